// One root logger per process (pino), child loggers per component. JSON lines when piped (the orchestrator collects
// them), pretty output on a TTY.
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export function createRootLogger(opts: { name: string; level?: LogLevel; pretty?: boolean }): Logger {
  const level = opts.level ?? (process.env.NITROLAB_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const pretty = opts.pretty ?? (process.stdout.isTTY === true);
  if (pretty) {
    return pino({
      name: opts.name,
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ name: opts.name, level });
}

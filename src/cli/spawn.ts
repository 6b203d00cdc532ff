// Spawning nitrolab's own processes (card, host) with an IPC channel for the "ready" handshake, their log lines
// relayed to the parent's output, and the last lines kept so a death can be reported with context.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';
import type { Logger } from '../common/log.ts';
import { stopChild } from '../common/stop-child.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const KEEP_LINES = 20;

export interface ChildHandle {
  readonly name: string;
  readonly proc: ChildProcess;
  /** The nitrolab arguments it was started with (a supervisor restarts it with the same ones). */
  readonly args: readonly string[];
  /** Resolves with the child's first IPC message of type 'ready'; rejects if it exits first. */
  readonly ready: Promise<Record<string, unknown>>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lastLines(): string[];
  stop(timeoutMs?: number): Promise<void>;
}

export function spawnNitrolab(name: string, args: string[], log: Logger, opts: { pretty: boolean }): ChildHandle {
  // NITROLAB_CPU_PROF=<dir>: `node --cpu-prof` for every child (not allowed in NODE_OPTIONS); bench/profile-net.ts.
  const prof = process.env.NITROLAB_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.NITROLAB_CPU_PROF}`] : [];
  const proc = spawn(process.execPath, [...prof, '--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NITROLAB_CHILD: name },
  });
  const lines: string[] = [];
  const pretty = opts.pretty ? prettyFactory({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }) : null;
  const relay = (line: string) => {
    lines.push(line);
    if (lines.length > KEEP_LINES) lines.shift();
    if (pretty && line.startsWith('{')) {
      try { process.stdout.write(pretty(JSON.parse(line) as object)); return; } catch { /* not JSON: print as is */ }
    }
    process.stdout.write(line + '\n');
  };
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', relay);
  if (proc.stderr) createInterface({ input: proc.stderr }).on('line', relay);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.on('message', (m) => {
      if (m && typeof m === 'object' && (m as { type?: unknown }).type === 'ready') resolve(m as Record<string, unknown>);
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal}):\n  ${lines.join('\n  ')}`)));
  });
  ready.catch(() => {});
  log.debug({ event: 'child-spawned', child: name, pid: proc.pid, args }, `started ${name}`);

  return {
    name,
    proc,
    args,
    ready,
    exited,
    lastLines: () => [...lines],
    stop: (timeoutMs = 5000) => stopChild(proc, timeoutMs),
  };
}

/** Report a child's death clearly: which, how, and what it said last. */
export function reportDeath(log: Logger, h: ChildHandle, how: { code: number | null; signal: NodeJS.Signals | null }): void {
  log.error(
    { event: 'child-died', child: h.name, exitCode: how.code, signal: how.signal, lastLines: h.lastLines() },
    `${h.name} died (exit code ${how.code}, signal ${how.signal}); last output:\n  ${h.lastLines().join('\n  ')}`,
  );
}

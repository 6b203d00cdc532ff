// The kernel log (dmesg): timestamped lines kept in a ring and echoed to the console, like printk with a console.
import type { GuestPlatform } from './platform.ts';

export type LogLevel = 'err' | 'warn' | 'info' | 'debug';

export interface KernelLogLine {
  readonly tNs: bigint;
  readonly level: LogLevel;
  readonly text: string;
}

export class KernelLog {
  private readonly platform: GuestPlatform;
  private readonly bootNs: bigint;
  private readonly ring: KernelLogLine[] = [];
  private readonly capacity: number;
  /** Lines at or above this level are also written to the console. */
  consoleLevel: LogLevel = 'info';

  constructor(platform: GuestPlatform, bootNs: bigint, capacity = 2000) {
    this.platform = platform;
    this.bootNs = bootNs;
    this.capacity = capacity;
  }

  log(level: LogLevel, text: string): void {
    const line: KernelLogLine = { tNs: this.platform.nowNs(), level, text };
    this.ring.push(line);
    if (this.ring.length > this.capacity) this.ring.shift();
    if (rank(level) <= rank(this.consoleLevel)) this.platform.consoleWrite(`${this.format(line)}\n`);
  }

  err(text: string): void { this.log('err', text); }
  warn(text: string): void { this.log('warn', text); }
  info(text: string): void { this.log('info', text); }
  debug(text: string): void { this.log('debug', text); }

  /** `[    1.234567] text`, as dmesg prints it. */
  format(line: KernelLogLine): string {
    const us = Number((line.tNs - this.bootNs) / 1000n);
    const secs = Math.floor(us / 1e6);
    const frac = String(us % 1e6).padStart(6, '0');
    return `[${String(secs).padStart(5, ' ')}.${frac}] ${line.text}`;
  }

  lines(): readonly KernelLogLine[] { return this.ring; }
}

function rank(level: LogLevel): number {
  switch (level) {
    case 'err': return 0;
    case 'warn': return 1;
    case 'info': return 2;
    case 'debug': return 3;
  }
}

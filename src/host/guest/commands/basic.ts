// Everyday shell commands: help, echo, uname, uptime, hostname, dmesg, free, interrupts, sleep, true, false, poweroff.
import type { ShellCommand } from '../shell.ts';
import { GUEST_OS_NAME, GUEST_OS_RELEASE } from '../version.ts';
import { PAGE_SIZE } from '../page-alloc.ts';
import { parseDurationMs, table } from './util.ts';

export const help: ShellCommand = {
  name: 'help',
  summary: 'list the commands',
  run({ k, out }) {
    out(table(k.shell.list().map((c) => [`  ${c.name}`, c.summary])));
    return 0;
  },
};

export const echo: ShellCommand = {
  name: 'echo',
  summary: 'print arguments (-n: no newline)',
  run({ args, out }) {
    const noNl = args[0] === '-n';
    out((noNl ? args.slice(1) : args).join(' ') + (noNl ? '' : '\n'));
    return 0;
  },
};

export const uname: ShellCommand = {
  name: 'uname',
  summary: 'system information (-a: all)',
  run({ args, k, out, err }) {
    const fields = { s: GUEST_OS_NAME, n: k.hostname, r: GUEST_OS_RELEASE, v: '#1 SMP', m: 'x86_64', o: 'nitrolab-guest' };
    if (args.length === 0) { out(`${fields.s}\n`); return 0; }
    const flags = args.join('').replace(/^-+/u, '');
    if (flags === 'a' || args.includes('--all')) { out(`${Object.values(fields).join(' ')}\n`); return 0; }
    const parts: string[] = [];
    for (const f of flags) {
      const v = (fields as Record<string, string>)[f];
      if (v === undefined) { err(`uname: invalid option -- '${f}'\n`); return 1; }
      parts.push(v);
    }
    out(`${parts.join(' ')}\n`);
    return 0;
  },
};

export const uptime: ShellCommand = {
  name: 'uptime',
  summary: 'time since boot',
  run({ k, out }) {
    const s = Number(k.uptimeNs / 1_000_000_000n);
    const hms = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60].map((n) => String(n).padStart(2, '0')).join(':');
    const mins = Math.floor(s / 60);
    const up = mins < 60 ? `${mins} min` : `${Math.floor(mins / 60)}:${String(mins % 60).padStart(2, '0')}`;
    out(` ${hms} up ${up},  1 user,  load average: 0.00, 0.00, 0.00\n`);
    return 0;
  },
};

export const hostname: ShellCommand = {
  name: 'hostname',
  summary: 'print the host name',
  run({ k, out }) { out(`${k.hostname}\n`); return 0; },
};

export const dmesg: ShellCommand = {
  name: 'dmesg',
  summary: 'kernel log',
  run({ k, out }) {
    out(k.log.lines().map((l) => k.log.format(l)).join('\n') + '\n');
    return 0;
  },
};

export const free: ShellCommand = {
  name: 'free',
  summary: 'memory usage in KiB',
  run({ k, out }) {
    const kib = (p: number): string => String((p * PAGE_SIZE) / 1024);
    const total = k.pages.totalPages;
    const freeP = k.pages.freePages;
    out(table([
      ['', 'total', 'used', 'free'],
      ['Mem:', kib(total), kib(total - freeP), kib(freeP)],
    ], new Set([1, 2, 3])));
    return 0;
  },
};

export const interrupts: ShellCommand = {
  name: 'interrupts',
  summary: 'MSI vectors, owners and counts (like /proc/interrupts)',
  run({ k, out }) {
    const rows = k.irqs.snapshot().map((r) => [`${r.vector}:`, String(r.count), 'PCI-MSIX', r.owner]);
    out(table([['', 'CPU0', '', ''], ...rows, ['SPU:', String(k.irqs.spurious), 'Spurious interrupts', '']], new Set([0, 1])));
    return 0;
  },
};

export const sleep: ShellCommand = {
  name: 'sleep',
  summary: 'sleep SECONDS',
  async run({ args, k, err, signal }) {
    const ms = parseDurationMs(args[0] ?? '');
    if (!Number.isFinite(ms)) { err('sleep: missing or invalid operand\n'); return 1; }
    const end = k.platform.nowNs() + BigInt(Math.round(ms * 1e6));
    while (!signal.aborted && k.platform.nowNs() < end) {
      await k.platform.sleep(Math.min(100, Number(end - k.platform.nowNs()) / 1e6));
    }
    return signal.aborted ? 130 : 0;
  },
};

export const trueCmd: ShellCommand = { name: 'true', summary: 'succeed', run: () => 0 };
export const falseCmd: ShellCommand = { name: 'false', summary: 'fail', run: () => 1 };

export const poweroff: ShellCommand = {
  name: 'poweroff',
  summary: 'shut down drivers and power off',
  async run({ k }) {
    await k.poweroff();
    return 0;
  },
};

export const basicCommands: readonly ShellCommand[] = [
  help, echo, uname, uptime, hostname, dmesg, free, interrupts, sleep, trueCmd, falseCmd, poweroff,
];

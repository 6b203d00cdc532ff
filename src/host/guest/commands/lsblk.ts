// lsblk: NAME SIZE TYPE MODEL SERIAL for every registered block device.
import type { ShellCommand } from '../shell.ts';
import { humanSize, table } from './util.ts';

export const lsblk: ShellCommand = {
  name: 'lsblk',
  summary: 'list block devices (-b: sizes in bytes)',
  run({ args, k, out }) {
    const bytes = args.includes('-b') || args.includes('--bytes');
    const rows = k.blocks.list().map((d) => [
      d.name, bytes ? String(d.sizeBytes) : humanSize(d.sizeBytes), 'disk', d.model, d.serial,
    ]);
    out(table([['NAME', 'SIZE', 'TYPE', 'MODEL', 'SERIAL'], ...rows], new Set([1])));
    return 0;
  },
};

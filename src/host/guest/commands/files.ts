// RAM-file helpers for checking data end to end: ls, rm, cmp, sha256sum, hexdump -C. Block devices are read whole
// (or up to -n bytes for hexdump) through the block layer.
import { createHash } from 'node:crypto';
import type { CommandContext, ShellCommand } from '../shell.ts';
import { parseSize, table } from './util.ts';

/** Contents of a RAM file or a block device (first `limit` bytes). */
async function load(ctx: CommandContext, path: string, limit = Infinity, skip = 0): Promise<Uint8Array | undefined> {
  const file = ctx.k.tmpfs.read(path);
  if (file) return file.subarray(skip, Math.min(file.length, skip + limit));
  const dev = ctx.k.blocks.get(path);
  if (!dev) return undefined;
  const start = Math.floor(skip / dev.lbaSize) * dev.lbaSize;
  const end = Math.min(dev.sizeBytes, skip + limit);
  const len = Math.ceil((end - start) / dev.lbaSize) * dev.lbaSize;
  const out = new Uint8Array(len);
  const chunk = Math.max(dev.lbaSize, Math.floor(dev.maxTransferBytes / dev.lbaSize) * dev.lbaSize);
  for (let at = 0; at < len; at += chunk) {
    const n = Math.min(chunk, len - at);
    await dev.read((start + at) / dev.lbaSize, n / dev.lbaSize, out.subarray(at, at + n));
  }
  return out.subarray(skip - start, end - start);
}

export const ls: ShellCommand = {
  name: 'ls',
  summary: 'list RAM files and /dev block devices',
  run({ k, out }) {
    const rows = [
      ...k.blocks.list().map((d) => [String(d.sizeBytes), `/dev/${d.name}`]),
      ...k.tmpfs.list().map(([p, n]) => [String(n), p]),
    ];
    out(rows.length > 0 ? table(rows, new Set([0])) : '');
    return 0;
  },
};

export const rm: ShellCommand = {
  name: 'rm',
  summary: 'remove RAM files',
  run({ args, k, err }) {
    let status = 0;
    for (const p of args.filter((a) => !a.startsWith('-'))) {
      if (!k.tmpfs.remove(p)) { err(`rm: cannot remove '${p}': No such file or directory\n`); status = 1; }
    }
    return status;
  },
};

export const cmp: ShellCommand = {
  name: 'cmp',
  summary: 'compare two files or devices byte by byte',
  async run(ctx) {
    const [a, b] = ctx.args.filter((x) => !x.startsWith('-'));
    if (!a || !b) { ctx.err('usage: cmp FILE1 FILE2\n'); return 2; }
    const x = await load(ctx, a);
    const y = await load(ctx, b);
    if (!x || !y) { ctx.err(`cmp: ${!x ? a : b}: No such file or directory\n`); return 2; }
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (x[i] !== y[i]) {
        let line = 1;
        for (let j = 0; j < i; j++) if (x[j] === 10) line++;
        ctx.out(`${a} ${b} differ: byte ${i + 1}, line ${line}\n`);
        return 1;
      }
    }
    if (x.length !== y.length) { ctx.err(`cmp: EOF on ${x.length < y.length ? a : b} after byte ${n}\n`); return 1; }
    return 0;
  },
};

export const sha256sum: ShellCommand = {
  name: 'sha256sum',
  summary: 'SHA-256 of files or devices',
  async run(ctx) {
    let status = 0;
    for (const p of ctx.args) {
      const data = await load(ctx, p);
      if (!data) { ctx.err(`sha256sum: ${p}: No such file or directory\n`); status = 1; continue; }
      ctx.out(`${createHash('sha256').update(data).digest('hex')}  ${p}\n`);
    }
    return status;
  },
};

export const hexdump: ShellCommand = {
  name: 'hexdump',
  summary: 'hexdump -C [-n LEN] [-s OFFSET] FILE|DEV',
  async run(ctx) {
    let limit = 256;
    let skip = 0;
    let path: string | undefined;
    for (let i = 0; i < ctx.args.length; i++) {
      const a = ctx.args[i] as string;
      if (a === '-C') continue;
      if (a === '-n') limit = parseSize(ctx.args[++i] ?? '');
      else if (a === '-s') skip = parseSize(ctx.args[++i] ?? '');
      else path = a;
    }
    if (!path || !(limit > 0) || !(skip >= 0)) { ctx.err('usage: hexdump -C [-n LEN] [-s OFFSET] FILE\n'); return 1; }
    const data = await load(ctx, path, limit, skip);
    if (!data) { ctx.err(`hexdump: ${path}: No such file or directory\n`); return 1; }
    let text = '';
    for (let o = 0; o < data.length; o += 16) {
      const row = data.subarray(o, o + 16);
      const hexes = [...row].map((b) => b.toString(16).padStart(2, '0'));
      const left = hexes.slice(0, 8).join(' ');
      const right = hexes.slice(8).join(' ');
      const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      text += `${(skip + o).toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|\n`;
    }
    text += `${(skip + data.length).toString(16).padStart(8, '0')}\n`;
    ctx.out(text);
    return 0;
  },
};

export const fileCommands: readonly ShellCommand[] = [ls, rm, cmp, sha256sum, hexdump];

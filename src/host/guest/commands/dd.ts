// dd: copy blocks between /dev/zero, /dev/urandom, /dev/null, block devices (nvme0n1…) and RAM files, one block at a
// time (queue depth 1), through a DMA buffer from the page allocator. Prints GNU dd's records/bytes summary.
import type { CommandContext, ShellCommand } from '../shell.ts';
import type { BlockDevice } from '../block.ts';
import type { GuestKernel } from '../kernel.ts';
import { TmpFs } from '../tmpfs.ts';
import { ddSize, keyValues, parseSize } from './util.ts';

/** Where bytes come from: `read` fills up to buf.length bytes at byte `offset`, returns how many (0 = EOF). */
interface Source { readonly name: string; read(offset: number, buf: Uint8Array): Promise<number> }
interface Target { readonly name: string; write(offset: number, data: Uint8Array): Promise<void>; finish(): Promise<void> }

function blockSource(dev: BlockDevice): Source {
  return {
    name: `/dev/${dev.name}`,
    async read(offset, buf) {
      const n = Math.min(buf.length, dev.sizeBytes - offset);
      if (n <= 0) return 0;
      await dev.read(offset / dev.lbaSize, n / dev.lbaSize, buf);
      return n;
    },
  };
}

function blockTarget(dev: BlockDevice, fsync: boolean): Target {
  return {
    name: `/dev/${dev.name}`,
    async write(offset, data) {
      if (offset + data.length > dev.sizeBytes) throw new Error('No space left on device');
      await dev.write(offset / dev.lbaSize, data.length / dev.lbaSize, data);
    },
    finish: () => (fsync ? dev.flush() : Promise.resolve()),
  };
}

function openSource(k: GuestKernel, path: string): Source | string {
  if (path === '/dev/zero') return { name: path, read: async (_o, buf) => { buf.fill(0); return buf.length; } };
  if (path === '/dev/urandom' || path === '/dev/random') {
    return {
      name: path,
      async read(_o, buf) {
        for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
        return buf.length;
      },
    };
  }
  const dev = k.blocks.get(path);
  if (dev) return blockSource(dev);
  const file = k.tmpfs.read(path);
  if (file) {
    return { name: path, read: async (o, buf) => { const part = file.subarray(o, o + buf.length); buf.set(part); return part.length; } };
  }
  return `failed to open '${path}': No such file or directory`;
}

function openTarget(k: GuestKernel, path: string, fsync: boolean, truncate: boolean): Target | string {
  if (path === '/dev/null') return { name: path, write: async () => {}, finish: async () => {} };
  const dev = k.blocks.get(path);
  if (dev) return blockTarget(dev, fsync);
  if (path.startsWith('/dev/')) return `failed to open '${path}': No such device`;
  if (!TmpFs.isFilePath(path)) return `failed to open '${path}': Is a directory`;
  if (truncate) k.tmpfs.write(path, new Uint8Array(0));
  return { name: path, write: async (o, d) => k.tmpfs.writeAt(path, o, d.slice()), finish: async () => {} };
}

function speed(bytes: number, secs: number): string {
  if (secs <= 0) return 'inf B/s';
  const v = bytes / secs;
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let x = v;
  let i = 0;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i++; }
  return `${x >= 100 ? Math.round(x) : x.toPrecision(3)} ${units[i]}`;
}

async function dd(ctx: CommandContext): Promise<number> {
  const { args, k, out, err, signal } = ctx;
  const o = keyValues(args);
  for (const key of o.keys()) {
    if (!['if', 'of', 'bs', 'count', 'seek', 'skip', 'conv', 'oflag', 'iflag', 'status'].includes(key)) {
      err(`dd: unrecognized operand '${key}'\n`);
      return 1;
    }
  }
  const bs = parseSize(o.get('bs') ?? '512');
  const count = o.has('count') ? parseSize(o.get('count') as string) : Infinity;
  const seek = parseSize(o.get('seek') ?? '0');
  const skip = parseSize(o.get('skip') ?? '0');
  if (!(bs > 0) || Number.isNaN(count) || !(seek >= 0) || !(skip >= 0)) { err('dd: invalid number\n'); return 1; }
  const inPath = o.get('if');
  const outPath = o.get('of');
  if (!inPath || !outPath) { err('dd: if= and of= are required (no stdin/stdout on this console)\n'); return 1; }
  const conv = (o.get('conv') ?? '').split(',');
  const flags = `${o.get('oflag') ?? ''},${conv.join(',')}`;
  const src = openSource(k, inPath);
  if (typeof src === 'string') { err(`dd: ${src}\n`); return 1; }
  if (count === Infinity && (inPath === '/dev/zero' || inPath.startsWith('/dev/urandom') || inPath === '/dev/random')) {
    err('dd: count= is required with an endless input\n');
    return 1;
  }
  const dst = openTarget(k, outPath, flags.includes('fsync') || flags.includes('sync'), !conv.includes('notrunc') && seek === 0);
  if (typeof dst === 'string') { err(`dd: ${dst}\n`); return 1; }
  for (const [path, dev] of [[inPath, k.blocks.get(inPath)], [outPath, k.blocks.get(outPath)]] as const) {
    if (dev && bs % dev.lbaSize !== 0) {
      err(`dd: ${path}: bs=${bs} is not a multiple of the ${dev.lbaSize}-byte logical block size\n`);
      return 1;
    }
  }

  const dma = k.pages.allocBytes(bs);
  const buf = dma.bytes.subarray(0, bs);
  const t0 = k.platform.nowNs();
  let full = 0;
  let partial = 0;
  let bytes = 0;
  let status = 0;
  let wroteFull = 0;
  let wrotePartial = 0;
  try {
    for (let i = 0; i < count; i++) {
      if (signal.aborted) { status = 130; break; }
      let n: number;
      try {
        n = await src.read((skip + i) * bs, buf);
      } catch (e) {
        err(`dd: error reading '${src.name}': ${e instanceof Error ? e.message : String(e)}\n`);
        status = 1;
        break;
      }
      if (n === 0) break;
      if (n === bs) full++;
      else partial++;
      try {
        await dst.write((seek + i) * bs, buf.subarray(0, n));
      } catch (e) {
        err(`dd: error writing '${dst.name}': ${e instanceof Error ? e.message : String(e)}\n`);
        status = 1;
        break;
      }
      if (n === bs) wroteFull++;
      else wrotePartial++;
      bytes += n;
      if (n < bs) break;
      if (i % 64 === 63) await k.platform.yield();
    }
    if (status === 0) await dst.finish();
  } finally {
    k.pages.release(dma);
  }
  const secs = Number(k.platform.nowNs() - t0) / 1e9;
  if (o.get('status') !== 'none') {
    out(`${full}+${partial} records in\n${wroteFull}+${wrotePartial} records out\n`);
    out(`${bytes} bytes${bytes >= 1000 ? ` (${ddSize(bytes)})` : ''} copied, ${secs.toPrecision(3)} s, ${speed(bytes, secs)}\n`);
  }
  return status;
}

export const ddCommand: ShellCommand = {
  name: 'dd',
  summary: 'copy blocks: dd if= of= bs= count= seek= skip= [conv=fsync,notrunc]',
  run: dd,
};

// wvcheck: a write-verify crash checker (docs/reliability.md § card crash and restart). Rounds of writes over the
// first --blocks 4 KiB blocks of a device; every block carries a header (magic, its own block number, the round as
// its generation, whether it was written with FUA), a pattern derived from (block, generation) and a CRC32C. Odd
// rounds write with FUA (durable once acknowledged); even rounds write plainly and then Flush (durable once the Flush
// is acknowledged). The highest durable and acknowledged generation of every block is recorded. ^C (or --rounds)
// ends the writing after the current round; then every block is read back and checked:
//   lost       its generation is below the last durable one (an acknowledged durable write is missing)
//   stale      its generation is not the last acknowledged one (every write here is acknowledged before the next)
//   misplaced  it holds another block's data (header block number)
//   corrupt    bad magic, CRC or pattern (torn or foreign data)
// The summary line (`wvcheck: … lost=0 misplaced=0 corrupt=0 stale=0 io_errors=0`) is what tests assert; final_gen
// lets a test check the volume's backing file from outside too (layout: wvcheckBlock).
import type { CommandContext, ShellCommand } from '../shell.ts';
import { crc32c } from '../crc32c.ts';
import { longOptions } from './util.ts';

export const WV_BLOCK = 4096;
export const WV_MAGIC = 0x57564b31; // "WVK1"
const HDR = 16;

/** The expected content of `block` at generation `gen` (also used by tests reading the volume file). */
export function wvcheckBlock(block: number, gen: number, fua: boolean): Uint8Array {
  const b = new Uint8Array(WV_BLOCK);
  const v = new DataView(b.buffer);
  v.setUint32(0, WV_MAGIC, true);
  v.setUint32(4, block, true);
  v.setUint32(8, gen, true);
  v.setUint32(12, fua ? 1 : 0, true);
  let x = (Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(gen + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let o = HDR; o < WV_BLOCK - 4; o += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    v.setUint32(o, x, true);
  }
  v.setUint32(WV_BLOCK - 4, crc32c(b.subarray(0, WV_BLOCK - 4)), true);
  return b;
}

export type WvVerdict = 'ok' | 'corrupt' | 'misplaced';

/** Check one block's bytes: its generation (or the kind of damage). */
export function wvcheckParse(bytes: Uint8Array, block: number): { verdict: WvVerdict; gen: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, WV_BLOCK);
  if (v.getUint32(0, true) !== WV_MAGIC) return { verdict: 'corrupt', gen: -1 };
  if (v.getUint32(WV_BLOCK - 4, true) !== crc32c(bytes.subarray(0, WV_BLOCK - 4))) return { verdict: 'corrupt', gen: -1 };
  const gen = v.getUint32(8, true);
  if (v.getUint32(4, true) !== block) return { verdict: 'misplaced', gen };
  const want = wvcheckBlock(block, gen, v.getUint32(12, true) === 1);
  for (let i = 0; i < WV_BLOCK; i++) if (want[i] !== bytes[i]) return { verdict: 'corrupt', gen };
  return { verdict: 'ok', gen };
}

async function run(ctx: CommandContext): Promise<number> {
  // `--blocks 64` and `--blocks=64` both work.
  const args: string[] = [];
  for (let i = 0; i < ctx.args.length; i++) {
    const a = ctx.args[i]!;
    const v = ctx.args[i + 1];
    if (/^--[a-z]+$/u.test(a) && v !== undefined && !v.startsWith('--')) { args.push(`${a}=${v}`); i++; } else args.push(a);
  }
  const { opts, positional } = longOptions(args);
  const path = positional[0];
  const dev = path !== undefined ? ctx.k.blocks.get(path) : undefined;
  if (!dev) { ctx.err(`wvcheck: ${path ?? '(no device)'}: No such device\nusage: wvcheck DEV [--blocks N] [--rounds R] [--qd Q]\n`); return 2; }
  const blocks = Number(opts.get('blocks') ?? 256);
  const rounds = Number(opts.get('rounds') ?? 1_000_000);
  const qd = Number(opts.get('qd') ?? 16);
  const per = WV_BLOCK / dev.lbaSize;
  if (![blocks, rounds, qd].every((n) => Number.isInteger(n) && n > 0) || !Number.isInteger(per) || blocks * WV_BLOCK > dev.sizeBytes) {
    ctx.err('wvcheck: --blocks, --rounds, --qd must be positive integers and the blocks must fit the device\n');
    return 2;
  }
  const acked = new Array<number>(blocks).fill(0);
  const durable = new Array<number>(blocks).fill(0);
  let writes = 0, fuaWrites = 0, flushes = 0, ioErrors = 0, gen = 0;
  const t0 = ctx.k.platform.nowNs();
  ctx.out(`wvcheck: ${path} blocks=${blocks} qd=${qd}\n`);
  while (gen < rounds && !ctx.signal.aborted) {
    gen++;
    const fua = gen % 2 === 1;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let b = next++; b < blocks; b = next++) {
        try {
          await dev.write(b * per, per, wvcheckBlock(b, gen, fua), fua);
          acked[b] = gen;
          writes++;
          if (fua) { durable[b] = gen; fuaWrites++; }
        } catch (e) {
          ioErrors++;
          ctx.err(`wvcheck: write of block ${b} gen ${gen} failed: ${(e as Error).message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(qd, blocks) }, worker));
    if (!fua) {
      try {
        await dev.flush();
        flushes++;
        for (let b = 0; b < blocks; b++) if (acked[b] === gen) durable[b] = gen;
      } catch (e) {
        ioErrors++;
        ctx.err(`wvcheck: flush after round ${gen} failed: ${(e as Error).message}\n`);
      }
    }
    ctx.out(`wvcheck: round ${gen} done (${fua ? 'fua' : 'flush'})\n`);
    await ctx.k.platform.yield();
  }
  const count = { checked: 0, lost: 0, stale: 0, misplaced: 0, corrupt: 0 };
  const buf = new Uint8Array(WV_BLOCK);
  for (let b = 0; b < blocks; b++) {
    try {
      await dev.read(b * per, per, buf);
    } catch (e) {
      ioErrors++;
      ctx.err(`wvcheck: read of block ${b} failed: ${(e as Error).message}\n`);
      continue;
    }
    count.checked++;
    const r = wvcheckParse(buf, b);
    if (r.verdict !== 'ok') {
      count[r.verdict]++;
      ctx.err(`wvcheck: block ${b}: ${r.verdict} (generation ${r.gen})\n`);
    } else if (r.gen < durable[b]!) {
      count.lost++;
      ctx.err(`wvcheck: block ${b}: generation ${r.gen} but generation ${durable[b]} was durable\n`);
    } else if (r.gen !== acked[b]) {
      count.stale++;
      ctx.err(`wvcheck: block ${b}: generation ${r.gen}, last acknowledged ${acked[b]}\n`);
    }
  }
  const secs = Number(ctx.k.platform.nowNs() - t0) / 1e9;
  ctx.out(`wvcheck: blocks=${blocks} rounds=${gen} final_gen=${gen} writes=${writes} fua_writes=${fuaWrites} flushes=${flushes} ` +
    `checked=${count.checked} lost=${count.lost} stale=${count.stale} misplaced=${count.misplaced} corrupt=${count.corrupt} io_errors=${ioErrors} secs=${secs.toFixed(1)}\n`);
  return count.lost + count.stale + count.misplaced + count.corrupt + ioErrors === 0 ? 0 : 1;
}

export const wvcheck: ShellCommand = {
  name: 'wvcheck',
  summary: 'write-verify crash checker: generations per block, FUA/flush durability, read-back check (^C ends)',
  run,
};

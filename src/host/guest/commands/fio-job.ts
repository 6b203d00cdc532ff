// The fio engine: option parsing and a job runner with `iodepth` requests in flight per job, sequential or random
// (a seeded permutation, so each block is touched once per pass), per-I/O latency, and verification: crc32c blocks
// carry a header {magic, generation, offset, length, crc32c} that is checked when read back; pattern blocks a u32.
import type { BlockDevice } from '../block.ts';
import type { GuestKernel } from '../kernel.ts';
import type { DmaBuffer } from '../page-alloc.ts';
import { crc32c } from '../crc32c.ts';
import { parseDurationMs, parseSize } from './util.ts';

export type FioRw = 'read' | 'write' | 'randread' | 'randwrite' | 'randrw' | 'rw';
export type FioVerify = 'none' | 'crc32c' | 'pattern';

export interface FioSpec {
  readonly name: string;
  readonly filename: string;
  readonly rw: FioRw;
  readonly bs: number;
  readonly iodepth: number;
  readonly size: number | undefined;
  readonly offset: number;
  readonly runtimeMs: number | undefined;
  readonly timeBased: boolean;
  readonly numjobs: number;
  readonly verify: FioVerify;
  readonly verifyPattern: number;
  readonly direct: boolean;
  readonly rwmixread: number;
  readonly seed: number;
  /** fio's `rate_iops`: cap on I/Os per second per job (0 = as fast as the device goes). */
  readonly rateIops: number;
}

const RW: readonly FioRw[] = ['read', 'write', 'randread', 'randwrite', 'randrw', 'rw'];

/** Parse `--key=value` options (fio's own syntax); returns an error message on bad input. */
export function parseFioOptions(opts: ReadonlyMap<string, string>): FioSpec | string {
  const known = ['name', 'filename', 'rw', 'readwrite', 'bs', 'iodepth', 'size', 'offset', 'runtime', 'time_based', 'numjobs',
    'verify', 'verify_pattern', 'direct', 'rwmixread', 'randseed', 'rate_iops', 'ioengine', 'group_reporting', 'output-format'];
  for (const k of opts.keys()) if (!known.includes(k)) return `unknown option --${k}`;
  const filename = opts.get('filename');
  if (!filename) return 'no --filename given';
  let rw = (opts.get('rw') ?? opts.get('readwrite') ?? 'read') as FioRw;
  if ((rw as string) === 'readwrite') rw = 'rw';
  if (!RW.includes(rw)) return `bad --rw=${rw} (read, write, randread, randwrite, randrw, rw)`;
  const num = (key: string, dflt: number, parse: (t: string) => number = Number): number | string => {
    const t = opts.get(key);
    if (t === undefined || t === '') return dflt;
    const v = parse(t);
    return Number.isFinite(v) && v >= 0 ? v : `bad --${key}=${t}`;
  };
  const bs = num('bs', 4096, parseSize);
  const iodepth = num('iodepth', 1);
  const numjobs = num('numjobs', 1);
  const offset = num('offset', 0, parseSize);
  const rwmixread = num('rwmixread', 50);
  const seed = num('randseed', 0x12345678);
  const rateIops = num('rate_iops', 0);
  const patternText = opts.get('verify_pattern') ?? '0x5a5a5a5a';
  const verifyPattern = Number(patternText);
  for (const v of [bs, iodepth, numjobs, offset, rwmixread, seed, rateIops]) if (typeof v === 'string') return v;
  if (!Number.isInteger(verifyPattern) || verifyPattern < 0 || verifyPattern > 0xffff_ffff) return `bad --verify_pattern=${patternText}`;
  const size = opts.has('size') ? parseSize(opts.get('size') as string) : undefined;
  if (size !== undefined && !(size > 0)) return `bad --size=${opts.get('size') ?? ''}`;
  const runtimeMs = opts.has('runtime') ? parseDurationMs(opts.get('runtime') as string) : undefined;
  if (runtimeMs !== undefined && !(runtimeMs > 0)) return `bad --runtime=${opts.get('runtime') ?? ''}`;
  const verify = (opts.get('verify') ?? 'none') as FioVerify;
  if (!['none', 'crc32c', 'pattern'].includes(verify)) return `unsupported --verify=${verify} (crc32c, pattern)`;
  if ((bs as number) < 64 && verify === 'crc32c') return 'verify=crc32c needs bs >= 64';
  if ((iodepth as number) < 1 || (iodepth as number) > 4096) return 'iodepth must be 1..4096';
  if ((numjobs as number) < 1 || (numjobs as number) > 64) return 'numjobs must be 1..64';
  if (!Number.isInteger(rateIops) || (rateIops as number) > 10_000_000) return `bad --rate_iops=${opts.get('rate_iops') ?? ''}`;
  return {
    name: opts.get('name') ?? 'job', filename, rw, bs: bs as number, iodepth: iodepth as number, size,
    offset: offset as number, runtimeMs, timeBased: opts.has('time_based'), numjobs: numjobs as number, verify,
    verifyPattern, direct: opts.get('direct') !== '0', rwmixread: Math.min(100, rwmixread as number), seed: seed as number,
    rateIops: rateIops as number,
  };
}

export class LatencyLog {
  private data = new Float64Array(1024);
  count = 0;
  add(ns: number): void {
    if (this.count === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.count++] = ns;
  }
  merge(other: LatencyLog): void { for (const v of other.sorted()) this.add(v); }
  sorted(): Float64Array { return this.data.slice(0, this.count).sort(); }
}

/** The p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export interface DirStats { ios: number; bytes: number; readonly lat: LatencyLog }
export interface FioResult {
  readonly read: DirStats;
  readonly write: DirStats;
  readonly elapsedNs: number;
  readonly verify: { checked: number; errors: number; messages: string[] } | undefined;
  ioErrors: number;
  readonly ioErrorMessages: string[];
}

/** mulberry32: small, seedable, good enough to shuffle offsets and fill buffers. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const MAGIC = 0x6f69_6676; // "vfio"
const H = { magic: 0, gen: 4, offLo: 8, offHi: 12, len: 16, crc: 20 } as const;
const HEADER_BYTES = 32;

/** Fill one block for writing; `gen` makes every write's data different. */
export function fillBlock(buf: Uint8Array, spec: Pick<FioSpec, 'verify' | 'verifyPattern'>, offset: number, gen: number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  if (spec.verify === 'pattern') {
    words.fill(spec.verifyPattern);
    return;
  }
  const next = rng((gen * 0x9e37_79b9) ^ offset);
  for (let i = 0; i < words.length; i++) words[i] = next();
  if (spec.verify !== 'crc32c') return;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  v.setUint32(H.magic, MAGIC, true);
  v.setUint32(H.gen, gen, true);
  v.setUint32(H.offLo, offset % 0x1_0000_0000, true);
  v.setUint32(H.offHi, Math.floor(offset / 0x1_0000_0000), true);
  v.setUint32(H.len, buf.length, true);
  v.setUint32(H.crc, 0, true);
  for (let i = 24; i < HEADER_BYTES; i++) buf[i] = 0;
  v.setUint32(H.crc, crc32c(buf), true);
}

/** Check a block read back; returns an error message or undefined. `gen` 0 = any generation. */
export function checkBlock(buf: Uint8Array, spec: Pick<FioSpec, 'verify' | 'verifyPattern'>, offset: number, gen: number): string | undefined {
  if (spec.verify === 'pattern') {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let i = 0; i < words.length; i++) {
      if (words[i] !== spec.verifyPattern) return `pattern mismatch at offset ${offset + 4 * i}: 0x${(words[i] as number).toString(16)}`;
    }
    return undefined;
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (v.getUint32(H.magic, true) !== MAGIC) return `bad magic 0x${v.getUint32(H.magic, true).toString(16)} at offset ${offset}`;
  const at = v.getUint32(H.offLo, true) + v.getUint32(H.offHi, true) * 0x1_0000_0000;
  if (at !== offset) return `block at offset ${offset} claims offset ${at}`;
  if (v.getUint32(H.len, true) !== buf.length) return `bad length at offset ${offset}`;
  if (gen !== 0 && v.getUint32(H.gen, true) !== gen) return `stale data at offset ${offset} (generation ${v.getUint32(H.gen, true)}, expected ${gen})`;
  const want = v.getUint32(H.crc, true);
  v.setUint32(H.crc, 0, true);
  const got = crc32c(buf);
  v.setUint32(H.crc, want, true);
  return got === want ? undefined : `crc32c mismatch at offset ${offset}: 0x${got.toString(16)} != 0x${want.toString(16)}`;
}

const MAX_MESSAGES = 5;

/** Run the whole job (all `numjobs`, then the verify pass) against `dev`. */
export async function runFio(k: GuestKernel, dev: BlockDevice, spec: FioSpec, signal: AbortSignal): Promise<FioResult> {
  const p = k.platform;
  const ioBlocks = spec.bs / dev.lbaSize;
  const region = Math.min(spec.size ?? dev.sizeBytes, dev.sizeBytes - spec.offset);
  const iosPerJob = Math.floor(region / spec.bs / spec.numjobs);
  const writes = spec.rw !== 'read' && spec.rw !== 'randread';
  const reads = spec.rw !== 'write' && spec.rw !== 'randwrite';
  const random = spec.rw.startsWith('rand');
  const result: FioResult = {
    read: { ios: 0, bytes: 0, lat: new LatencyLog() },
    write: { ios: 0, bytes: 0, lat: new LatencyLog() },
    elapsedNs: 0,
    verify: spec.verify !== 'none' ? { checked: 0, errors: 0, messages: [] } : undefined,
    ioErrors: 0,
    ioErrorMessages: [],
  };
  const buffers: (DmaBuffer | Uint8Array)[] = [];
  const getBuf = (): Uint8Array => {
    const b = spec.direct ? k.pages.allocBytes(spec.bs) : new Uint8Array(spec.bs);
    buffers.push(b);
    return b instanceof Uint8Array ? b : b.bytes.subarray(0, spec.bs);
  };
  const t0 = p.nowNs();
  const deadline = spec.runtimeMs !== undefined ? t0 + BigInt(Math.round(spec.runtimeMs * 1e6)) : undefined;
  let gen = 0;
  let stop = false;
  const ioError = (e: unknown): void => {
    result.ioErrors++;
    if (result.ioErrorMessages.length < MAX_MESSAGES) result.ioErrorMessages.push(e instanceof Error ? e.message : String(e));
    stop = true;
  };
  const verifyFail = (msg: string): void => {
    const v = result.verify;
    if (!v) return;
    v.errors++;
    if (v.messages.length < MAX_MESSAGES) v.messages.push(msg);
  };

  const jobs = Array.from({ length: spec.numjobs }, async (_, j) => {
    const base = spec.offset + j * iosPerJob * spec.bs;
    const order = new Uint32Array(iosPerJob).map((_v, i) => i);
    const next = rng(spec.seed + j);
    if (random) {
      for (let i = order.length - 1; i > 0; i--) {
        const r = next() % (i + 1);
        const t = order[i] as number;
        order[i] = order[r] as number;
        order[r] = t;
      }
    }
    const stamps = writes && spec.verify !== 'none' ? new Uint32Array(iosPerJob) : undefined;
    const inflight = new Set<number>();
    // rate_iops: the n-th I/O of this job is not issued before t0 + n / rate (fio's own pacing, per job).
    const gapNs = spec.rateIops > 0 ? 1e9 / spec.rateIops : 0;
    let issued = 0;
    let cursor = 0;
    const take = (): number | undefined => {
      if (cursor >= order.length) {
        if (!spec.timeBased || deadline === undefined || order.length === 0) return undefined;
        cursor = 0;
      }
      return order[cursor++];
    };
    const worker = async (): Promise<void> => {
      const buf = getBuf();
      for (let n = 0; ; n++) {
        if (stop || signal.aborted || (deadline !== undefined && p.nowNs() >= deadline)) return;
        if (gapNs > 0) {
          const aheadMs = (Number(t0 - p.nowNs()) + issued * gapNs) / 1e6;
          issued++;
          if (aheadMs >= 1) await p.sleep(aheadMs);
          if (stop || signal.aborted || (deadline !== undefined && p.nowNs() >= deadline)) return;
        }
        const idx = take();
        if (idx === undefined) return;
        if (inflight.has(idx)) {
          await p.yield(); // a small region wrapped around under time_based: that block is still in flight
          continue;
        }
        const isRead = reads && (!writes || next() % 100 < spec.rwmixread);
        const off = base + idx * spec.bs;
        inflight.add(idx);
        try {
          let g = 0;
          if (!isRead) {
            g = ++gen;
            if (spec.verify !== 'none' || n === 0) fillBlock(buf, spec, off, g);
          }
          const start = p.nowNs();
          if (isRead) await dev.read(off / dev.lbaSize, ioBlocks, buf);
          else await dev.write(off / dev.lbaSize, ioBlocks, buf);
          const d = isRead ? result.read : result.write;
          d.lat.add(Number(p.nowNs() - start));
          d.ios++;
          d.bytes += spec.bs;
          if (stamps && !isRead) stamps[idx] = g;
          if (isRead && spec.verify !== 'none' && (!stamps || stamps[idx] !== 0)) {
            if (result.verify) result.verify.checked++;
            const bad = checkBlock(buf, spec, off, stamps?.[idx] ?? 0);
            if (bad) verifyFail(bad);
          }
        } catch (e) {
          ioError(e);
        } finally {
          inflight.delete(idx);
        }
        if (n % 32 === 31) await p.yield();
      }
    };
    await Promise.all(Array.from({ length: spec.iodepth }, worker));
    return { base, stamps };
  });
  const done = await Promise.all(jobs);
  const elapsedNs = Number(p.nowNs() - t0);

  // Verify pass: read back everything this run wrote and check it.
  if (writes && spec.verify !== 'none' && !signal.aborted && result.ioErrors === 0) {
    for (const { base, stamps } of done) {
      if (!stamps) continue;
      let i = 0;
      const verifier = async (): Promise<void> => {
        const buf = getBuf();
        for (let n = 0; ; n++) {
          while (i < stamps.length && stamps[i] === 0) i++;
          if (i >= stamps.length || signal.aborted) return;
          const idx = i++;
          const off = base + idx * spec.bs;
          try {
            await dev.read(off / dev.lbaSize, ioBlocks, buf);
          } catch (e) {
            ioError(e);
            return;
          }
          if (result.verify) result.verify.checked++;
          const bad = checkBlock(buf, spec, off, stamps[idx] as number);
          if (bad) verifyFail(bad);
          if (n % 32 === 31) await p.yield();
        }
      };
      await Promise.all(Array.from({ length: spec.iodepth }, verifier));
    }
  }
  for (const b of buffers) if (!(b instanceof Uint8Array)) k.pages.release(b);
  return { ...result, elapsedNs };
}

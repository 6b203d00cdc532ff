// fio engine pieces: option parsing, verify block format, percentiles.
import t from 'tap';
import { checkBlock, fillBlock, parseFioOptions, percentile, runFio } from '../../../../src/host/guest/commands/fio-job.ts';
import type { BlockDevice } from '../../../../src/host/guest/block.ts';
import type { GuestKernel } from '../../../../src/host/guest/kernel.ts';

t.test('options parse with fio suffixes and defaults', async (t) => {
  const s = parseFioOptions(new Map([['filename', '/dev/nvme0n1'], ['rw', 'randwrite'], ['bs', '4k'], ['iodepth', '32'], ['size', '1M'], ['runtime', '10s'], ['verify', 'crc32c']]));
  t.match(s, { rw: 'randwrite', bs: 4096, iodepth: 32, size: 1 << 20, runtimeMs: 10_000, verify: 'crc32c', numjobs: 1, direct: true });
  t.match(parseFioOptions(new Map([['filename', 'x'], ['rw', 'sideways']])), /bad --rw/u);
  t.match(parseFioOptions(new Map([['filename', 'x'], ['verify', 'md5']])), /unsupported --verify/u);
  t.match(parseFioOptions(new Map([['rw', 'read']])), /no --filename/u);
});

t.test('a crc32c block verifies, and any flipped byte, wrong offset or stale generation is caught', async (t) => {
  const spec = { verify: 'crc32c' as const, verifyPattern: 0 };
  const b = new Uint8Array(4096);
  fillBlock(b, spec, 8192, 7);
  t.equal(checkBlock(b, spec, 8192, 7), undefined);
  t.match(checkBlock(b, spec, 4096, 7), /claims offset 8192/u);
  t.match(checkBlock(b, spec, 8192, 8), /stale data/u);
  b[1000] = (b[1000] as number) ^ 1;
  t.match(checkBlock(b, spec, 8192, 7), /crc32c mismatch/u);
});

t.test('pattern verify compares every word', async (t) => {
  const spec = { verify: 'pattern' as const, verifyPattern: 0xdeadbeef };
  const b = new Uint8Array(512);
  fillBlock(b, spec, 0, 1);
  t.equal(checkBlock(b, spec, 0, 1), undefined);
  b[100] = 0;
  t.match(checkBlock(b, spec, 0, 1), /pattern mismatch at offset 100/u);
});

t.test('percentiles use the nearest rank', async (t) => {
  const v = new Float64Array(Array.from({ length: 100 }, (_, i) => i + 1));
  t.equal(percentile(v, 50), 50);
  t.equal(percentile(v, 99), 99);
  t.equal(percentile(v, 99.9), 100);
  t.equal(percentile(new Float64Array(0), 50), 0);
});

t.test('rate_iops paces each job to the asked rate: a time-based run issues rate × runtime I/Os', async (t) => {
  t.match(parseFioOptions(new Map([['filename', 'x'], ['rate_iops', 'fast']])), /bad --rate_iops/u);
  t.match(parseFioOptions(new Map([['filename', 'x'], ['rate_iops', '1.5']])), /bad --rate_iops/u);
  // Stand-ins (unit test only): a virtual clock that sleep() advances, and a block device that completes at once
  // and costs 10 µs of virtual time, so the count depends on the pacing alone.
  let now = 0n;
  const platform = { nowNs: () => now, sleep: async (ms: number) => { now += BigInt(Math.round(ms * 1e6)); }, yield: async () => {} };
  const dev = {
    lbaSize: 512, sizeBytes: 1 << 20,
    read: async () => { now += 10_000n; }, write: async () => { now += 10_000n; },
  };
  const run = async (rate: number, iodepth: number): Promise<number> => {
    now = 0n;
    const spec = parseFioOptions(new Map([['filename', 'x'], ['rw', 'randwrite'], ['iodepth', String(iodepth)], ['runtime', '2s'], ['time_based', ''], ['direct', '0'], ['rate_iops', String(rate)]]));
    if (typeof spec === 'string') throw new Error(spec);
    const r = await runFio({ platform } as unknown as GuestKernel, dev as unknown as BlockDevice, spec, new AbortController().signal);
    return r.write.ios;
  };
  const paced = await run(250, 1);
  t.ok(paced >= 490 && paced <= 510, `250 IOPS for 2 s at iodepth 1: ${paced} I/Os`);
  const deep = await run(250, 16);
  t.ok(deep >= 490 && deep <= 520, `the cap holds with 16 in flight: ${deep} I/Os`);
  const free = await run(0, 1);
  t.ok(free > 100_000, `without rate_iops the device's pace decides: ${free} I/Os`);
});

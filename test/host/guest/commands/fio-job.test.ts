// fio engine pieces: option parsing, verify block format, percentiles.
import t from 'tap';
import { checkBlock, fillBlock, parseFioOptions, percentile } from '../../../../src/host/guest/commands/fio-job.ts';

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

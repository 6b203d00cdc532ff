// Per-volume token buckets (src/nitro-card/ebs/throttle.ts) on a stepped clock: the rates are honoured exactly,
// I/O above the limit waits in arrival order, throttled time lands in the 0xD0 counters, and close() waits for I/O.
import t from 'tap';
import type { Clock } from '../../../src/devices/contract.ts';
import type { BlockBackend } from '../../../src/devices/nvme/backend.ts';
import { IoStats } from '../../../src/devices/nvme/metrics.ts';
import { DebtBucket, EBS_IO_UNIT_BYTES, ThrottledBackend, limitsFor } from '../../../src/nitro-card/ebs/throttle.ts';

/** A clock whose timers fire only when the test advances time. */
function steppedClock() {
  let now = 0n;
  const timers: { at: bigint; fn: () => void }[] = [];
  const clock: Clock = {
    nowNs: () => now,
    setTimer(ms, fn) {
      const entry = { at: now + BigInt(Math.ceil(ms * 1e6)), fn };
      timers.push(entry);
      return () => { const i = timers.indexOf(entry); if (i >= 0) timers.splice(i, 1); };
    },
  };
  return {
    clock,
    pending: () => timers.length,
    async advanceMs(ms: number) {
      now += BigInt(Math.round(ms * 1e6));
      for (const e of timers.filter((x) => x.at <= now).sort((a, b) => (a.at < b.at ? -1 : 1))) {
        timers.splice(timers.indexOf(e), 1);
        e.fn();
      }
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
  };
}

function memBackend(size = 1 << 20): BlockBackend & { ops: string[]; closed: boolean } {
  const data = new Uint8Array(size);
  const b = {
    sizeBytes: size, ops: [] as string[], closed: false,
    async read(off: number, dst: Uint8Array) { b.ops.push(`r${off}`); dst.set(data.subarray(off, off + dst.length)); },
    async write(off: number, src: Uint8Array) { b.ops.push(`w${off}`); data.set(src, off); },
    async flush() { b.ops.push('f'); },
    async discard() { b.ops.push('d'); },
    async writeZeroes() { b.ops.push('z'); },
    async close() { b.closed = true; },
  };
  return b;
}

t.test('a volume without limits in its spec gets the gp3 baseline (3000 IOPS, 125 MiB/s)', async (t) => {
  t.same(limitsFor({}), { iops: 3000, throughputMiBps: 125 });
  t.same(limitsFor({ iops: 16000, throughputMiBps: 1000 }), { iops: 16000, throughputMiBps: 1000 });
});

t.test('a debt bucket lets its burst through at once, then paces at the rate', async (t) => {
  const b = new DebtBucket(1000, 0n); // 1000/s, burst 100
  for (let i = 0; i < 100; i++) t.equal(b.take(1, 0n), 0);
  t.equal(b.take(1, 0n), 1_000_000, 'the 101st waits 1 ms');
  t.equal(b.take(1, 0n), 2_000_000, 'the 102nd waits 2 ms');
  t.equal(b.take(1, 3_000_000n), 0, 'after 3 ms the debt is paid');
  t.equal(new DebtBucket(0, 0n).take(1e9, 0n), 0, 'rate 0 is unlimited');
});

t.test('IOPS above the limit wait in order, and the waiting time lands in the 0xD0 counters', async (t) => {
  const c = steppedClock();
  const inner = memBackend();
  const stats = new IoStats();
  const tb = new ThrottledBackend(inner, { iops: 100, throughputMiBps: 0 }, c.clock); // burst of 10
  tb.attachStats(stats);
  const buf = new Uint8Array(4096);
  const done: number[] = [];
  const all = Array.from({ length: 15 }, (_, i) => tb.read(i * 4096, buf).then(() => done.push(i)));
  await c.advanceMs(0);
  t.equal(done.length, 10, 'the burst of 10 goes at once');
  await c.advanceMs(10);
  t.same(done, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'one more per 10 ms, in arrival order');
  await c.advanceMs(40);
  await Promise.all(all);
  t.equal(done.length, 15);
  t.equal(stats.volumeIopsExceededUs, 50_000, 'throttled wall time: 50 ms');
  t.equal(stats.volumeTpExceededUs, 0);
  t.equal(tb.snapshot().delayedRequests, 5);
});

t.test('throughput is charged in bytes and a large I/O costs one IOPS token per 256 KiB', async (t) => {
  const c = steppedClock();
  const stats = new IoStats();
  const tb = new ThrottledBackend(memBackend(8 << 20), { iops: 10, throughputMiBps: 1 }, c.clock); // burst: 1 op, 256 KiB
  tb.attachStats(stats);
  const big = new Uint8Array(EBS_IO_UNIT_BYTES * 2); // 512 KiB: 2 ops
  let finished = false;
  const p = tb.write(0, big, false).then(() => { finished = true; });
  await c.advanceMs(0);
  t.notOk(finished, '512 KiB at 1 MiB/s with a 256 KiB burst waits');
  await c.advanceMs(250);
  await p;
  t.ok(finished);
  t.equal(stats.volumeTpExceededUs, 250_000, 'waited 250 ms for throughput');
  t.equal(stats.volumeIopsExceededUs, 100_000, 'and 100 ms of that also for IOPS (2 ops at 10/s, 1 in the burst)');
});

t.test('close() waits for I/O held by a bucket, then closes the volume', async (t) => {
  const c = steppedClock();
  const inner = memBackend();
  const tb = new ThrottledBackend(inner, { iops: 10, throughputMiBps: 0 }, c.clock); // burst 1
  const buf = new Uint8Array(512);
  await tb.write(0, buf, false);
  const held = tb.write(512, buf, false);
  let closed = false;
  const closing = tb.close().then(() => { closed = true; });
  await c.advanceMs(0);
  t.notOk(closed, 'not closed while a write is held');
  t.notOk(inner.closed);
  await c.advanceMs(100);
  await held;
  await closing;
  t.ok(inner.closed);
  t.same(inner.ops, ['w0', 'w512'], 'the held write completed before the close');
});

t.test('flush is never throttled; discard and write-zeroes cost one operation', async (t) => {
  const c = steppedClock();
  const inner = memBackend();
  const tb = new ThrottledBackend(inner, { iops: 10, throughputMiBps: 1 }, c.clock);
  await tb.flush();
  await tb.flush();
  await tb.discard(0, 1 << 20);
  let zeroed = false;
  const z = tb.writeZeroes(0, 4096, false).then(() => { zeroed = true; });
  await c.advanceMs(0);
  t.notOk(zeroed, 'the second operation waits (burst 1)');
  await c.advanceMs(100);
  await z;
  t.same(inner.ops, ['f', 'f', 'd', 'z']);
});

// Firecracker's token-bucket model: size refilled over refill_time, one_time_burst spent first and never refilled,
// over-consumption of a full bucket; and the ENI limits derived from an instance type's network figures.
import t from 'tap';
import { limitsFromNetwork, TokenBucket } from '../../../src/nitro-card/vpc/token-bucket.ts';

const MS = 1_000_000n;

t.test('a bucket allows `size` tokens, refuses more, and refills linearly over refill_time', async (t) => {
  const b = new TokenBucket({ size: 1000, oneTimeBurst: 0, refillTimeMs: 100 }, 0n);
  t.ok(b.consume(600, 0n));
  t.ok(b.consume(400, 0n));
  t.notOk(b.consume(1, 0n), 'empty');
  t.notOk(b.consume(600, 50n * MS), 'half refilled: 500 < 600');
  t.ok(b.consume(500, 50n * MS));
  t.ok(b.consume(1000, 1000n * MS), 'refill is capped at size');
  t.notOk(b.consume(1, 1000n * MS));
});

t.test('one_time_burst is spent first and never comes back', async (t) => {
  const b = new TokenBucket({ size: 100, oneTimeBurst: 300, refillTimeMs: 100 }, 0n);
  t.equal(b.available, 400);
  t.ok(b.consume(350, 0n), 'burst plus part of the budget');
  t.equal(b.available, 50);
  t.ok(b.consume(150, 100n * MS));
  t.equal(b.available, 0, 'after a full refill only `size` returns');
});

t.test('a request larger than the bucket passes only from a full bucket, and empties it', async (t) => {
  const b = new TokenBucket({ size: 100, oneTimeBurst: 0, refillTimeMs: 100 }, 0n);
  t.ok(b.consume(1500, 0n));
  t.notOk(b.consume(1500, 50n * MS));
  t.ok(b.consume(1500, 200n * MS));
});

t.test('size 0 disables a bucket; bad configurations are refused', async (t) => {
  const b = new TokenBucket({ size: 0, oneTimeBurst: 0, refillTimeMs: 100 }, 0n);
  t.ok(b.consume(1e9, 0n));
  t.ok(b.consume(1e12, 0n));
  t.throws(() => new TokenBucket({ size: -1, oneTimeBurst: 0, refillTimeMs: 100 }, 0n));
  t.throws(() => new TokenBucket({ size: 1, oneTimeBurst: 0, refillTimeMs: 0 }, 0n));
});

t.test('limits from network figures: m5.large (0.75 Gbps baseline, up to 10) gets a burst; fixed-rate types do not', async (t) => {
  const m5 = limitsFromNetwork(0.75, 10, 187_500);
  t.equal(m5.bandwidth.size, 9_375_000, '0.75 Gbit/s = 93.75 MB/s → 9.375 MB per 100 ms');
  t.equal(m5.bandwidth.refillTimeMs, 100);
  t.equal(m5.bandwidth.oneTimeBurst, 11_562_500_000, '10 s at the 9.25 Gbit/s above baseline');
  t.equal(m5.ops.size, 18_750);
  t.equal(limitsFromNetwork(25, 25, 1e6).bandwidth.oneTimeBurst, 0);
});

// The SPSC byte ring: wrap-around, partial writes when full, waking a waiting consumer and producer, close.
import t from 'tap';
import { createShmRing, ShmRingConsumer, ShmRingProducer } from '../../../../src/devices/pcie/link/shm-ring.ts';

t.test('capacity must be a power of two', async (t) => {
  t.throws(() => createShmRing(100), RangeError);
  t.throws(() => createShmRing(32), RangeError);
});

t.test('bytes come out in order across the wrap point', async (t) => {
  const d = createShmRing(64);
  const p = new ShmRingProducer(d);
  const c = new ShmRingConsumer(d);
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 20; round++) {
    const src = new Uint8Array(37).map(() => next++ & 0xff);
    t.equal(p.tryWrite(src), 37);
    const out = c.read();
    t.ok(out !== undefined && out.every((b) => b === (expect++ & 0xff)), `round ${round}`);
  }
  t.equal(c.read(), undefined, 'empty ring reads undefined');
});

t.test('a full ring takes a partial write, and a waiting producer wakes when the consumer frees space', async (t) => {
  const d = createShmRing(64);
  const p = new ShmRingProducer(d);
  const c = new ShmRingConsumer(d);
  t.equal(p.tryWrite(new Uint8Array(100).fill(1)), 64);
  t.equal(p.tryWrite(new Uint8Array(1)), 0);
  const woke = p.waitSpace();
  t.equal(c.read()?.byteLength, 64);
  await woke;
  t.equal(p.tryWrite(new Uint8Array(10)), 10);
});

t.test('a waiting consumer wakes on data and on close', async (t) => {
  const d = createShmRing(64);
  const p = new ShmRingProducer(d);
  const c = new ShmRingConsumer(d);
  const w = c.waitData(0);
  p.tryWrite(new Uint8Array([9]));
  await w;
  t.same([...(c.read() ?? [])], [9]);
  const w2 = c.waitData(0);
  p.close();
  await w2;
  t.ok(c.closed);
  t.equal(p.tryWrite(new Uint8Array(1)), 0, 'a closed ring takes nothing');
});

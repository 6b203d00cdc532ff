// Buffer pool: power-of-two classes, reuse.
import t from 'tap';
import { BufferPool } from '../../../src/devices/nvme/buffers.ts';

t.test('buffers are reused by size class', async (t) => {
  const p = new BufferPool();
  const a = p.take(4096);
  t.equal(a.byteLength, 4096);
  p.give(a);
  t.equal(p.take(3000), a, 'same class');
  t.equal(p.take(100).byteLength, 512);
  t.equal(p.take(5000).byteLength, 8192);
  p.give(new Uint8Array(1000)); // not a pool size: ignored
  t.equal(p.take(1000).byteLength, 1024);
});

// placePacket: one buffer, merged buffers, rewinding on shortage, headers-only buffers.
import t from 'tap';
import { FakeHost } from '../../helpers/fake-host.ts';
import { GuestVirtq } from '../../helpers/virtq.ts';
import { RingError, Virtqueue } from '../../../src/devices/virtio-net/queue.ts';
import { placePacket } from '../../../src/devices/virtio-net/rx.ts';
import { NetHdr } from '../../../src/devices/virtio-net/regs.ts';

function rig(): { g: GuestVirtq; q: Virtqueue } {
  const host = new FakeHost(1 << 20);
  const g = new GuestVirtq(host, 0x1000, 8, 0x10000, 0x30000);
  return { g, q: new Virtqueue(0, { size: 8, desc: g.desc, avail: g.avail, used: g.used, eventIdx: false, indirect: false }, host.dma) };
}
const packet = (n: number): Uint8Array => Uint8Array.from({ length: NetHdr.size + n }, (_, i) => (i < NetHdr.size ? 0 : i & 0xff));

t.test('one buffer: num_buffers 1, used len = header + frame', async (t) => {
  const { g, q } = rig();
  const c = g.post([{ len: 10, write: true }, { len: 200, write: true }]);
  t.same(await placePacket(q, packet(100), false), { kind: 'delivered', buffers: 1 });
  await q.flushUsed();
  t.same(g.usedElem(0), { id: c.head, len: 112 });
  t.equal(g.bytes(c.bufs[1]!.addr, 2)[0], 1, 'num_buffers low byte lands in the second segment (offset 10)');
});

t.test('mergeable: a packet spread over exactly-sized buffers', async (t) => {
  const { g, q } = rig();
  g.post([{ len: 56, write: true }]);
  g.post([{ len: 56, write: true }]);
  t.same(await placePacket(q, packet(100), true), { kind: 'delivered', buffers: 2 });
  await q.flushUsed();
  t.same([g.usedElem(0).len, g.usedElem(1).len], [56, 56]);
});

t.test('shortage rewinds every buffer taken', async (t) => {
  const { g, q } = rig();
  g.post([{ len: 20, write: true }]);
  g.post([{ len: 20, write: true }]);
  t.same(await placePacket(q, packet(100), true), { kind: 'drop', reason: 'no-buffers' });
  t.equal(q.lastAvailIdx, 0);
  t.same(await placePacket(q, packet(100), false), { kind: 'drop', reason: 'buffer-too-small' });
  t.equal(q.lastAvailIdx, 0);
});

t.test('a buffer smaller than the header is a ring error', async (t) => {
  const { g, q } = rig();
  g.post([{ len: 11, write: true }]);
  const err = await placePacket(q, packet(1), true).then(() => null, (e: unknown) => e);
  t.ok(err instanceof RingError && err.reason === 'rx-buffer-short');
});

// The driver-side split virtqueue on plain guest memory, with the test playing the device: free list, indirect
// tables, EVENT_IDX kick and interrupt suppression (vring_need_event), and a device that returns a bogus id.
import t from 'tap';
import { AVAIL_ELEM_SIZE, DescFlags, VirtqAvail, VirtqDesc, VirtqUsed, VirtqUsedElem } from '../../../../src/devices/virtio-net/regs.ts';
import { PageAllocator } from '../../../../src/host/guest/page-alloc.ts';
import { SplitVirtqueue, vringNeedEvent } from '../../../../src/host/guest/virtio/virtqueue.ts';

function rig(opts: { size?: number; eventIdx?: boolean; indirect?: boolean } = {}) {
  const mem = new Uint8Array(4 << 20);
  const pages = new PageAllocator(mem);
  const q = new SplitVirtqueue<string>(pages, { index: 0, size: opts.size ?? 8, eventIdx: opts.eventIdx ?? true, indirect: opts.indirect ?? false });
  const v = new DataView(mem.buffer);
  const size = q.size;
  let used = 0;
  const device = {
    availIdx: () => v.getUint16(q.availGpa + VirtqAvail.offset.idx, true),
    availHead: (i: number) => v.getUint16(q.availGpa + VirtqAvail.size + (i % size) * AVAIL_ELEM_SIZE, true),
    desc: (i: number, table = q.descGpa) => {
      const o = table + i * VirtqDesc.size;
      return { addr: v.getUint32(o, true), len: v.getUint32(o + VirtqDesc.offset.len, true), flags: v.getUint16(o + VirtqDesc.offset.flags, true), next: v.getUint16(o + VirtqDesc.offset.next, true) };
    },
    usedEvent: () => v.getUint16(q.availGpa + VirtqAvail.size + size * AVAIL_ELEM_SIZE, true),
    setAvailEvent: (n: number) => v.setUint16(q.usedGpa + VirtqUsed.size + size * VirtqUsedElem.size, n, true),
    putUsed: (id: number, len: number) => {
      const o = q.usedGpa + VirtqUsed.size + (used % size) * VirtqUsedElem.size;
      v.setUint32(o, id, true);
      v.setUint32(o + 4, len, true);
      used = (used + 1) & 0xffff;
      v.setUint16(q.usedGpa + VirtqUsed.offset.idx, used, true);
    },
  };
  return { q, device, pages };
}

t.test('vring_need_event matches the spec examples', async (t) => {
  t.ok(vringNeedEvent(0, 1, 0), 'used_event 0: interrupt after the first buffer');
  t.notOk(vringNeedEvent(0, 2, 1), '…and not again');
  t.ok(vringNeedEvent(0, 1, 65535), 'across the u16 wrap');
  t.ok(vringNeedEvent(5, 8, 2), 'event inside (old, new]');
  t.notOk(vringNeedEvent(9, 8, 2));
});

t.test('add publishes heads in order, the free list runs out, and used buffers come back with their tokens', async (t) => {
  const { q, device } = rig({ size: 4 });
  for (let i = 0; i < 4; i++) t.ok(q.add([{ addr: 0x200000 + i * 0x100, len: 64, write: true }], `b${i}`));
  t.notOk(q.add([{ addr: 0x300000, len: 64, write: true }], 'full'), 'no descriptor left');
  t.equal(q.numFree, 0);
  t.equal(device.availIdx(), 4);
  const heads = [0, 1, 2, 3].map((i) => device.availHead(i));
  t.same(new Set(heads).size, 4, 'four distinct heads');
  t.equal(device.desc(heads[0]!).flags, DescFlags.WRITE);
  device.putUsed(heads[2]!, 60);
  const u = q.getUsed();
  t.same(u, { token: 'b2', len: 60 });
  t.equal(q.numFree, 1);
  t.ok(q.add([{ addr: 0x300000, len: 10, write: false }, { addr: 0x300100, len: 20, write: true }].slice(0, 1), 'again'), 'the freed descriptor is reused');
  t.equal(q.getUsed(), undefined);
});

t.test('a two-segment chain is direct (NEXT) without INDIRECT and one indirect descriptor with it', async (t) => {
  const direct = rig({ size: 8 });
  direct.q.add([{ addr: 0x200000, len: 12, write: false }, { addr: 0x200010, len: 100, write: false }], 'd');
  t.equal(direct.q.numFree, 6);
  const h = direct.device.availHead(0);
  const d0 = direct.device.desc(h);
  t.equal(d0.flags, DescFlags.NEXT);
  t.same(direct.device.desc(d0.next), { addr: 0x200010, len: 100, flags: 0, next: direct.device.desc(d0.next).next });

  const ind = rig({ size: 8, indirect: true });
  ind.q.add([{ addr: 0x200000, len: 12, write: false }, { addr: 0x200010, len: 100, write: false }], 'i');
  t.equal(ind.q.numFree, 7, 'one ring descriptor');
  const top = ind.device.desc(ind.device.availHead(0));
  t.equal(top.flags, DescFlags.INDIRECT);
  t.equal(top.len, 2 * VirtqDesc.size);
  t.same(ind.device.desc(0, top.addr), { addr: 0x200000, len: 12, flags: DescFlags.NEXT, next: 1 });
  t.same(ind.device.desc(1, top.addr), { addr: 0x200010, len: 100, flags: 0, next: 2 });
  ind.device.putUsed(ind.device.availHead(0), 0);
  t.same(ind.q.getUsed(), { token: 'i', len: 0 });
  t.equal(ind.q.numFree, 8);
});

t.test('EVENT_IDX: kicks follow avail_event, interrupts are asked for at used_event', async (t) => {
  const { q, device } = rig({ size: 8 });
  q.add([{ addr: 0x200000, len: 64, write: true }], 'a');
  t.ok(q.kickPrepare(), 'avail_event 0: the first buffer needs a kick');
  q.add([{ addr: 0x200100, len: 64, write: true }], 'b');
  t.notOk(q.kickPrepare(), 'the device has not asked again');
  device.setAvailEvent(2);
  q.add([{ addr: 0x200200, len: 64, write: true }], 'c');
  t.ok(q.kickPrepare(), 'avail_event 2 reached');
  t.notOk(q.kickPrepare(), 'nothing new, no kick');
  device.putUsed(device.availHead(0), 1);
  q.disableCb();
  t.ok(q.getUsed());
  t.equal(device.usedEvent(), 0, 'polling: used_event is left alone');
  t.ok(q.enableCb(), 'nothing pending after re-enabling');
  t.equal(device.usedEvent(), 1, 'interrupt at the next used buffer');
  device.putUsed(device.availHead(1), 1);
  t.notOk(q.enableCb(), 'a buffer that raced in is reported');
});

t.test('a used id that is not in flight throws instead of corrupting the free list', async (t) => {
  const { q, device } = rig({ size: 4 });
  q.add([{ addr: 0x200000, len: 64, write: true }], 'a');
  device.putUsed(3, 0);
  t.throws(() => q.getUsed(), /used id 3 is not in flight/u);
  device.putUsed(99, 0);
  t.equal(q.numFree, 3);
});

// Split virtqueue, device side: chains, used ring, notification suppression, and every malformed-ring rule.
import t, { type Test } from 'tap';
import { FakeHost } from '../../helpers/fake-host.ts';
import { GuestVirtq, seeded, writeDesc } from '../../helpers/virtq.ts';
import { DmaFault } from '../../../src/devices/contract.ts';
import { needEvent, QueueStopped, RingError, Virtqueue, type QueueConfig } from '../../../src/devices/virtio-net/queue.ts';
import { AvailFlags, DescFlags } from '../../../src/devices/virtio-net/regs.ts';

function rig(opts: Partial<QueueConfig> = {}, size = 8): { host: FakeHost; g: GuestVirtq; q: Virtqueue } {
  const host = new FakeHost(1 << 20);
  const g = new GuestVirtq(host, 0x1000, size, 0x10000);
  const q = new Virtqueue(0, { size, desc: g.desc, avail: g.avail, used: g.used, eventIdx: false, indirect: false, ...opts }, host.dma);
  return { host, g, q };
}

async function ringError(t: Test, p: Promise<unknown>, reason: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  t.ok(err instanceof RingError, `throws RingError (${String(err)})`);
  t.equal((err as RingError).reason, reason);
}

t.test('an empty avail ring pops nothing', async (t) => {
  const { q } = rig();
  t.equal(await q.popChain(), null);
});

t.test('a single readable descriptor pops as one segment', async (t) => {
  const { g, q } = rig();
  const c = g.post([{ data: Uint8Array.of(1, 2, 3) }]);
  const chain = await q.popChain();
  t.same(chain, { head: c.head, readable: [{ addr: c.bufs[0]!.addr, len: 3 }], writable: [], readBytes: 3, writeBytes: 0 });
  const dst = new Uint8Array(3);
  await q.readChain(chain!, dst);
  t.same([...dst], [1, 2, 3]);
  t.equal(await q.popChain(), null);
});

t.test('a chain splits into readable then writable parts', async (t) => {
  const { g, q } = rig();
  g.post([{ data: new Uint8Array(4) }, { data: new Uint8Array(6) }, { len: 10, write: true }, { len: 5, write: true }]);
  const chain = await q.popChain();
  t.equal(chain?.readable.length, 2);
  t.equal(chain?.writable.length, 2);
  t.equal(chain?.readBytes, 10);
  t.equal(chain?.writeBytes, 15);
  const n = await q.writeChain(chain!, Uint8Array.from({ length: 12 }, (_, i) => i + 1));
  t.equal(n, 12);
  const w = chain!.writable;
  t.same([...g.bytes(w[0]!.addr, 10)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.same([...g.bytes(w[1]!.addr, 3)], [11, 12, 0]);
});

t.test('an indirect table is walked when INDIRECT_DESC was negotiated', async (t) => {
  const { g, q } = rig({ indirect: true });
  const c = g.indirectChain([{ data: Uint8Array.of(9, 8) }, { len: 4, write: true }]);
  g.publish(c.head);
  const chain = await q.popChain();
  t.equal(chain?.head, c.head);
  t.same(chain?.readable, [{ addr: c.bufs[0]!.addr, len: 2 }]);
  t.same(chain?.writable, [{ addr: c.bufs[1]!.addr, len: 4 }]);
});

t.test('used elements are published, then used.idx', async (t) => {
  const { g, q } = rig();
  const a = g.post([{ len: 8, write: true }]);
  const b = g.post([{ len: 8, write: true }]);
  await q.popChain();
  await q.popChain();
  q.addUsed(a.head, 3);
  q.addUsed(b.head, 5);
  t.equal(await q.flushUsed(), true, 'avail.flags = 0 asks for an interrupt');
  t.equal(g.usedIdx, 2);
  t.same(g.usedElem(0), { id: a.head, len: 3 });
  t.same(g.usedElem(1), { id: b.head, len: 5 });
  t.equal(await q.flushUsed(), false, 'nothing pending, nothing to signal');
});

t.test('used ring writes wrap around the end of the ring', async (t) => {
  const { g, q } = rig({}, 4);
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 3; k++) g.post([{ len: 1, write: true }]);
    for (let k = 0; k < 3; k++) { const c = await q.popChain(); q.addUsed(c!.head, round); }
    await q.flushUsed();
  }
  t.equal(g.usedIdx, 9);
  t.equal(g.usedElem(8).len, 2);
});

t.test('avail.flags NO_INTERRUPT suppresses the interrupt without EVENT_IDX', async (t) => {
  const { g, q } = rig();
  g.availFlags = AvailFlags.NO_INTERRUPT;
  const c = g.post([{ len: 1, write: true }]);
  await q.popChain();
  q.addUsed(c.head, 1);
  t.equal(await q.flushUsed(), false);
});

t.test('EVENT_IDX: interrupt only when used_event lies in (old, new]', async (t) => {
  const { g, q } = rig({ eventIdx: true });
  g.usedEvent = 1; // "interrupt me once the second buffer is used"
  for (let k = 0; k < 3; k++) g.post([{ len: 1, write: true }]);
  const c0 = await q.popChain();
  q.addUsed(c0!.head, 1);
  t.equal(await q.flushUsed(), false, 'used.idx 0→1: used_event 1 not reached');
  const c1 = await q.popChain();
  q.addUsed(c1!.head, 1);
  t.equal(await q.flushUsed(), true, 'used.idx 1→2 crosses used_event 1');
  const c2 = await q.popChain();
  q.addUsed(c2!.head, 1);
  t.equal(await q.flushUsed(), false, 'already past used_event');
  g.availFlags = AvailFlags.NO_INTERRUPT;
  g.usedEvent = 3;
  g.post([{ len: 1, write: true }]);
  const c3 = await q.popChain();
  q.addUsed(c3!.head, 1);
  t.equal(await q.flushUsed(), true, 'flags are ignored with EVENT_IDX');
});

t.test('needEvent is vring_need_event, wrapping at 2^16', async (t) => {
  t.equal(needEvent(0, 1, 0), true);
  t.equal(needEvent(0, 2, 1), false);
  t.equal(needEvent(0xffff, 0, 0xffff), true);
  t.equal(needEvent(5, 10, 3), true);
  t.equal(needEvent(10, 10, 10), false);
});

t.test('enableNotification publishes avail_event and reports late buffers', async (t) => {
  const { g, q } = rig({ eventIdx: true });
  g.post([{ len: 1 }]);
  await q.popChain();
  t.equal(await q.enableNotification(), false);
  t.equal(g.availEvent, 1);
  g.post([{ len: 1 }]);
  t.equal(await q.enableNotification(), true, 'a buffer added meanwhile is seen');
});

t.test('rewind gives popped chains back', async (t) => {
  const { g, q } = rig();
  const a = g.post([{ len: 1, write: true }]);
  await q.popChain();
  q.rewind(1);
  t.equal((await q.popChain())?.head, a.head);
});

t.test('malformed rings throw RingError with a stable reason', async (t) => {
  t.test('avail.idx more than Q ahead', async (t) => {
    const { g, q } = rig();
    g.availIdx = 9;
    await ringError(t, q.popChain(), 'avail-idx-jump');
  });
  t.test('head index out of range', async (t) => {
    const { g, q } = rig();
    g.publish(8);
    await ringError(t, q.popChain(), 'desc-index-out-of-range');
  });
  t.test('next index out of range', async (t) => {
    const { g, q } = rig();
    g.setDesc(0, { addr: 0x10000, len: 4, flags: DescFlags.NEXT, next: 200 });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-index-out-of-range');
  });
  t.test('a descriptor loop', async (t) => {
    const { g, q } = rig();
    g.setDesc(0, { addr: 0x10000, len: 4, flags: DescFlags.NEXT, next: 1 });
    g.setDesc(1, { addr: 0x10000, len: 4, flags: DescFlags.NEXT, next: 0 });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-chain-too-long');
  });
  t.test('a loop inside an indirect table', async (t) => {
    const { g, q, host } = rig({ indirect: true });
    writeDesc(host.view, 0x20000, { addr: 0x10000, len: 4, flags: DescFlags.NEXT, next: 0 });
    g.setDesc(0, { addr: 0x20000, len: 16, flags: DescFlags.INDIRECT });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-chain-too-long');
  });
  t.test('NEXT and INDIRECT together', async (t) => {
    const { g, q } = rig({ indirect: true });
    g.setDesc(0, { addr: 0x20000, len: 16, flags: DescFlags.INDIRECT | DescFlags.NEXT, next: 1 });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-next-and-indirect');
  });
  t.test('indirect inside indirect', async (t) => {
    const { g, q, host } = rig({ indirect: true });
    writeDesc(host.view, 0x20000, { addr: 0x20000, len: 16, flags: DescFlags.INDIRECT });
    g.setDesc(0, { addr: 0x20000, len: 16, flags: DescFlags.INDIRECT });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-nested-indirect');
  });
  t.test('INDIRECT without the feature', async (t) => {
    const { g, q } = rig();
    g.setDesc(0, { addr: 0x20000, len: 16, flags: DescFlags.INDIRECT });
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-indirect-not-negotiated');
  });
  for (const len of [0, 15, 16 * 1025]) {
    t.test(`indirect table of ${len} bytes`, async (t) => {
      const { g, q } = rig({ indirect: true });
      g.setDesc(0, { addr: 0x20000, len, flags: DescFlags.INDIRECT });
      g.publish(0);
      await ringError(t, q.popChain(), 'desc-indirect-bad-length');
    });
  }
  t.test('an address beyond 2^53', async (t) => {
    const { g, q, host } = rig();
    g.setDesc(0, { addr: 0, len: 4 });
    host.view.setUint32(g.desc + 4, 0xffff_0000, true); // addr hi
    g.publish(0);
    await ringError(t, q.popChain(), 'desc-addr-out-of-range');
  });
  t.test('a readable descriptor after a writable one', async (t) => {
    const { g, q } = rig();
    g.post([{ len: 4, write: true }, { len: 4 }]);
    await ringError(t, q.popChain(), 'desc-read-after-write');
  });
  t.test('a chain longer than 2^32 bytes', async (t) => {
    const { g, q } = rig();
    g.setDesc(0, { addr: 0x10000, len: 0xffff_ffff, flags: DescFlags.NEXT, next: 1 });
    g.setDesc(1, { addr: 0x10000, len: 2 });
    g.publish(0);
    await ringError(t, q.popChain(), 'chain-too-large');
  });
  t.test('used.idx moved by someone else', async (t) => {
    const { g, q } = rig();
    const c = g.post([{ len: 1, write: true }]);
    await q.popChain();
    g.usedIdx = 5;
    q.addUsed(c.head, 1);
    await ringError(t, q.flushUsed(), 'used-idx-jump');
  });
});

t.test('a descriptor into unmapped memory faults without touching it', async (t) => {
  const { host, g, q } = rig();
  host.unmapAll();
  host.map(0, 0x80000); // rings and data; 0x80000.. is not the guest's
  g.setDesc(0, { addr: 0x90000, len: 16 });
  g.publish(0);
  const chain = await q.popChain();
  const err = await q.readChain(chain!, new Uint8Array(16)).then(() => null, (e: unknown) => e);
  t.ok(err instanceof DmaFault);
  t.equal(host.dmaFaults.length, 1);
  t.equal(host.dmaFaults[0]?.addr, 0x90000);
});

t.test('a stopped queue issues no DMA', async (t) => {
  const { g, q } = rig();
  g.post([{ len: 1 }]);
  q.stop();
  const err = await q.popChain().then(() => null, (e: unknown) => e);
  t.ok(err instanceof QueueStopped);
  t.equal(q.alive, false);
});

t.test('seeded random descriptor tables never throw anything but RingError or DmaFault', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = seeded(seed);
    const host = new FakeHost(0x40000);
    host.unmapAll();
    host.map(0, 0x30000);
    const size = 1 << Math.floor(rnd() * 5 + 1);
    const g = new GuestVirtq(host, 0x1000, size, 0x10000);
    const q = new Virtqueue(0, { size, desc: g.desc, avail: g.avail, used: g.used, eventIdx: rnd() < 0.5, indirect: rnd() < 0.5 }, host.dma);
    for (let i = 0; i < size; i++) {
      const flags = Math.floor(rnd() * 8);
      const addr = rnd() < 0.8 ? 0x10000 + Math.floor(rnd() * 0x10000) : Math.floor(rnd() * 0x80000);
      g.setDesc(i, { addr, len: Math.floor(rnd() * (rnd() < 0.3 ? 0x1000 : 64)), flags, next: Math.floor(rnd() * size * 1.2) });
    }
    for (let k = 0; k < 0x100; k += 16) writeDesc(host.view, 0x10000 + k, { addr: 0x10000 + k * 4, len: 8, flags: Math.floor(rnd() * 8), next: Math.floor(rnd() * 20) });
    g.availIdx = Math.floor(rnd() * size * 1.1);
    for (let i = 0; i < size; i++) host.view.setUint16(g.avail + 4 + 2 * i, Math.floor(rnd() * size * 1.1), true);
    try {
      for (let n = 0; n < size + 1; n++) {
        const chain = await q.popChain();
        if (!chain) break;
        if (chain.readBytes <= 0x10000) await q.readChain(chain, new Uint8Array(chain.readBytes));
        if (chain.writeBytes <= 0x10000) await q.writeChain(chain, new Uint8Array(Math.min(chain.writeBytes, 100)));
        q.addUsed(chain.head, 1);
        await q.flushUsed();
      }
    } catch (e) {
      if (!(e instanceof RingError) && !(e instanceof DmaFault)) t.fail(`seed ${seed}: ${String(e)}`);
    }
    for (const f of host.dmaFaults) if (f.addr + f.length <= 0x30000) t.fail(`seed ${seed}: fault inside the window`);
  }
  t.pass('200 seeds');
});

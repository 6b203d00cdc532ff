// VIRTIO-RING-*: the split virtqueue as a host observes it through the transmit queue of a virtio function (virtio 1.2
// §2.1, §2.7; specs.md §3.7–§3.8): chains, indirect tables, the used ring, notification suppression, and malformed
// rings — which must never stop the card serving, and SHOULD end in DEVICE_NEEDS_RESET (§2.1.2).
import { bit, DescFlags, FeatureBit, Status, VirtqDesc } from '../../devices/virtio-net/regs.ts';
import { NetHdr } from '../../devices/virtio-net/regs.ts';
import { needEvent } from '../../devices/virtio-net/queue.ts';
import type { SuiteContext } from '../context.ts';
import { OUTSIDE_WINDOW } from '../guest.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';
import { TXQ, type VirtioHost } from '../virtio-host.ts';
import type { GuestVirtq } from '../virtq.ts';
import { pollUntil } from '../wait.ts';

const V = 'virtio 1.2';
const FRAME = new Uint8Array(60);

/** MSI-X on, vectors 0..2 programmed and unmasked; rx → 1, tx → 2. */
async function withMsix(h: VirtioHost): Promise<void> {
  const l = await h.msixLayout();
  check(l !== undefined && l.size >= 3, 'MSI-X table smaller than 3 vectors');
  for (let v = 0; v < 3; v++) h.programVector(l, v, false);
  await h.setMsixControl(l, true, false);
}

async function needFeature(h: VirtioHost, b: number, name: string): Promise<void> {
  await h.reset();
  if (((await h.offered()) & bit(b)) === 0n) throw new Skip(`the device does not offer ${name}`);
}

/** Build a malformed tx chain with `build`, kick, and see what the card does. */
async function malformed(ctx: SuiteContext, build: (tx: GuestVirtq) => number, features = 0n): Promise<{ h: VirtioHost; needsReset: boolean; configMsi: boolean }> {
  const h = await ctx.virtio();
  await withMsix(h);
  const { tx } = await h.start({ vectors: [1, 2], features });
  h.setCommon('config_msix_vector', 0);
  h.msis.length = 0;
  tx.publish(build(tx));
  await h.notify(TXQ);
  const needsReset = await pollUntil(async () => ((await h.status()) & Status.DEVICE_NEEDS_RESET) !== 0, ctx.timeoutMs);
  await h.fence();
  return { h, needsReset, configMsi: h.msis.some((m) => m.vector === 0) };
}

/** After a malformed ring: the link and every other function still answer, and the function works after a reset. */
async function stillServing(ctx: SuiteContext, h: VirtioHost): Promise<void> {
  await h.rc.ping();
  for (const f of ctx.functions) if (f.fn !== h.fn) await h.rc.configRead(f.fn, 0, 4);
  const { tx } = await h.start();
  await h.transmit(tx, FRAME);
  check(await h.waitUsed(tx, 1), 'after a reset and re-initialisation a tx buffer is not used');
  await h.reset();
}

export const VIRTIO_RING_CASES = defineGroup('VIRTIO-RING', [
  { n: 1, level: 'M', clause: `${V} §2.7.5 The Virtqueue Descriptor Table, §2.7.8 The Virtqueue Used Ring`, title: 'a three-descriptor chain is used once: used.idx advances by 1 and the used element names the head',
    async run(ctx) {
      const h = await ctx.virtio();
      const { tx } = await h.start();
      tx.chain([{ len: 0 }]); // occupy descriptor 0 so the head is not 0
      const c = tx.post([{ data: new Uint8Array(NetHdr.size) }, { data: FRAME.subarray(0, 30) }, { data: FRAME.subarray(30) }]);
      await h.notify(TXQ);
      check(await h.waitUsed(tx, 1), 'used.idx did not advance');
      await h.fence();
      check(tx.usedIdx === 1, `used.idx ${tx.usedIdx} after one chain`);
      check(tx.usedElem(0).id === c.head, `used id ${tx.usedElem(0).id}, head was ${c.head}`);
      await h.reset();
    } },
  { n: 2, level: 'O', clause: `${V} §2.7.8.1 Device Requirements: The Virtqueue Used Ring (len = bytes written)`, title: 'a chain with no device-writable part is used with len 0',
    async run(ctx) {
      const h = await ctx.virtio();
      const { tx } = await h.start();
      await h.transmit(tx, FRAME);
      check(await h.waitUsed(tx, 1), 'used.idx did not advance');
      check(tx.usedElem(0).len === 0, `used len ${tx.usedElem(0).len} for a read-only chain`);
      await h.reset();
    } },
  { n: 3, level: 'M', clause: `${V} §2.7.5.3 Indirect Descriptors (VIRTIO_F_INDIRECT_DESC)`, title: 'with INDIRECT_DESC negotiated, a chain in an indirect table is used under its ring descriptor',
    async run(ctx) {
      const h = await ctx.virtio();
      await needFeature(h, FeatureBit.RING_INDIRECT_DESC, 'VIRTIO_F_INDIRECT_DESC');
      const { tx } = await h.start({ features: bit(FeatureBit.RING_INDIRECT_DESC) });
      const c = tx.indirectChain([{ data: new Uint8Array(NetHdr.size) }, { data: FRAME }]);
      tx.publish(c.head);
      await h.notify(TXQ);
      check(await h.waitUsed(tx, 1), 'the indirect chain was not used');
      check(tx.usedElem(0).id === c.head, `used id ${tx.usedElem(0).id}, head was ${c.head}`);
      check(((await h.status()) & Status.DEVICE_NEEDS_RESET) === 0, 'DEVICE_NEEDS_RESET after a valid indirect chain');
      await h.reset();
    } },
  { n: 4, level: 'M', clause: `${V} §2.7.7.1 Device Requirements: Used Buffer Notification Suppression (EVENT_IDX)`, title: 'with EVENT_IDX, used_event = 1 suppresses the interrupt for the first used buffer and not for the second',
    async run(ctx) {
      const h = await ctx.virtio();
      await needFeature(h, FeatureBit.RING_EVENT_IDX, 'VIRTIO_F_EVENT_IDX');
      await withMsix(h);
      const { tx } = await h.start({ features: bit(FeatureBit.RING_EVENT_IDX), vectors: [1, 2] });
      tx.usedEvent = 1;
      h.msis.length = 0;
      await h.transmit(tx, FRAME);
      check(await h.waitUsed(tx, 1), 'first buffer not used');
      await h.fence();
      check(h.msis.length === 0, `interrupt after used.idx 0 → 1 with used_event 1 (${h.msis.length} messages)`);
      await h.transmit(tx, FRAME);
      check(await h.waitUsed(tx, 2), 'second buffer not used');
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'no interrupt when used.idx passed used_event (1 → 2)');
      await h.reset();
    } },
  { n: 5, level: 'M', clause: `${V} §2.7.7.1 Device Requirements: Used Buffer Notification Suppression (flags = 0)`, title: 'without EVENT_IDX and with avail.flags 0, every used buffer is followed by an interrupt',
    async run(ctx) {
      const h = await ctx.virtio();
      await withMsix(h);
      const { tx } = await h.start({ vectors: [1, 2] });
      for (let i = 1; i <= 2; i++) {
        h.msis.length = 0;
        await h.transmit(tx, FRAME);
        check(await h.waitUsed(tx, i), `buffer ${i} not used`);
        check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), `no interrupt after used buffer ${i}`);
      }
      await h.reset();
    } },
  { n: 6, level: 'O', clause: `${V} §2.7.7.1 (avail.flags VIRTQ_AVAIL_F_NO_INTERRUPT, a SHOULD)`, title: 'without EVENT_IDX, avail.flags NO_INTERRUPT suppresses the used-buffer interrupt',
    async run(ctx) {
      const h = await ctx.virtio();
      await withMsix(h);
      const { tx } = await h.start({ vectors: [1, 2] });
      tx.availFlags = 1;
      h.msis.length = 0;
      await h.transmit(tx, FRAME);
      check(await h.waitUsed(tx, 1), 'buffer not used');
      await h.fence();
      check(h.msis.length === 0, `${h.msis.length} interrupts with NO_INTERRUPT set`);
      await h.reset();
    } },
  { n: 7, level: 'M', clause: `${V} §2.7.10.1 Device Requirements: Available Buffer Notification Suppression`, title: 'without EVENT_IDX, used.flags is 0 or 1 (NO_NOTIFY), and a kick the driver sends anyway is not lost',
    async run(ctx) {
      const h = await ctx.virtio();
      const { tx } = await h.start();
      for (let i = 1; i <= 3; i++) {
        await h.transmit(tx, FRAME); // kicks whatever used.flags says: the device must tolerate it
        check(await h.waitUsed(tx, i), `buffer ${i} not used`);
        const flags = h.view.getUint16(tx.used, true);
        check(flags === 0 || flags === 1, `used.flags ${hex(flags, 4)}`);
      }
      await h.reset();
    } },
  { n: 8, level: 'M', clause: `${V} §2.1.2 Device Requirements: Device Status Field ("must not consume buffers before DRIVER_OK")`, title: 'a buffer made available and kicked before DRIVER_OK is not used until DRIVER_OK is set',
    async run(ctx) {
      const h = await ctx.virtio();
      const { tx } = await h.start({ driverOk: false });
      await h.transmit(tx, FRAME);
      await h.fence();
      await h.fence();
      check(tx.usedIdx === 0, `used.idx ${tx.usedIdx} before DRIVER_OK`);
      await h.driverOk();
      await h.notify(TXQ);
      check(await h.waitUsed(tx, 1), 'the buffer was not used after DRIVER_OK and a kick');
      await h.reset();
    } },
  { n: 9, level: 'M', clause: `${V} §2.7.5.2 (a chain must not loop); §2.1.2; issue 7 "keep serving"`, title: 'a descriptor loop does not stop the card: the link and other functions answer, and the function works after a reset',
    async run(ctx) {
      const { h } = await malformed(ctx, (tx) => {
        tx.setDesc(0, { addr: 0x1f0000, len: 16, flags: DescFlags.NEXT, next: 1 });
        tx.setDesc(1, { addr: 0x1f0000, len: 16, flags: DescFlags.NEXT, next: 0 });
        return 0;
      });
      await stillServing(ctx, h);
    } },
  { n: 10, level: 'O', clause: `${V} §2.1.2 Device Requirements: Device Status Field (DEVICE_NEEDS_RESET, then a configuration change notification)`, title: 'a descriptor loop sets DEVICE_NEEDS_RESET and, with DRIVER_OK set, sends a config-change interrupt',
    async run(ctx) {
      const { h, needsReset, configMsi } = await malformed(ctx, (tx) => {
        tx.setDesc(0, { addr: 0x1f0000, len: 16, flags: DescFlags.NEXT, next: 0 });
        return 0;
      });
      check(needsReset, 'DEVICE_NEEDS_RESET not set after a descriptor loop');
      check(configMsi, 'no config-change MSI-X (vector 0) after DEVICE_NEEDS_RESET');
      await h.reset();
    } },
  { n: 11, level: 'O', clause: `${V} §2.7.5 (next < Queue Size); §2.1.2 DEVICE_NEEDS_RESET`, title: 'a descriptor whose next is beyond the queue sets DEVICE_NEEDS_RESET and the card keeps serving',
    async run(ctx) {
      const { h, needsReset } = await malformed(ctx, (tx) => {
        tx.setDesc(0, { addr: 0x1f0000, len: 12, flags: DescFlags.NEXT, next: tx.size + 3 });
        return 0;
      });
      check(needsReset, 'DEVICE_NEEDS_RESET not set');
      await stillServing(ctx, h);
    } },
  { n: 12, level: 'O', clause: `${V} §2.1.2 DEVICE_NEEDS_RESET; docs/link-protocol.md §7 DMA windows`, title: 'a descriptor pointing outside the IOMMU window sets DEVICE_NEEDS_RESET, leaves that memory untouched, and the card keeps serving',
    async run(ctx) {
      const h0 = await ctx.virtio();
      const before = h0.outsideSnapshot();
      const { h, needsReset } = await malformed(ctx, (tx) => {
        tx.setDesc(0, { addr: OUTSIDE_WINDOW, len: 72 });
        return 0;
      });
      check(Buffer.compare(before, h.outsideSnapshot()) === 0, 'memory outside the window changed');
      check(needsReset, 'DEVICE_NEEDS_RESET not set');
      await stillServing(ctx, h);
    } },
  { n: 13, level: 'O', clause: `${V} §2.7.5.3 Indirect Descriptors (len is a multiple of 16); §2.1.2 DEVICE_NEEDS_RESET`, title: 'an indirect descriptor whose length is not a multiple of 16 sets DEVICE_NEEDS_RESET',
    async run(ctx) {
      const h0 = await ctx.virtio();
      await needFeature(h0, FeatureBit.RING_INDIRECT_DESC, 'VIRTIO_F_INDIRECT_DESC');
      const { h, needsReset } = await malformed(ctx, (tx) => {
        const table = tx.alloc(2 * VirtqDesc.size);
        tx.setDesc(0, { addr: table, len: VirtqDesc.size + 5, flags: DescFlags.INDIRECT });
        return 0;
      }, bit(FeatureBit.RING_INDIRECT_DESC));
      check(needsReset, 'DEVICE_NEEDS_RESET not set');
      await stillServing(ctx, h);
    } },
  { n: 14, level: 'O', clause: `${V} §2.7.10 Available Buffer Notification Suppression (EVENT_IDX: avail_event)`, title: 'with EVENT_IDX, a driver that kicks only when vring_need_event(avail_event) asks still gets every buffer used',
    async run(ctx) {
      const h = await ctx.virtio();
      await needFeature(h, FeatureBit.RING_EVENT_IDX, 'VIRTIO_F_EVENT_IDX');
      const { tx } = await h.start({ features: bit(FeatureBit.RING_EVENT_IDX) });
      let kicks = 0;
      for (let i = 1; i <= 4; i++) {
        const old = tx.availIdx;
        tx.post([{ data: new Uint8Array(NetHdr.size) }, { data: FRAME }]);
        if (needEvent(tx.availEvent, tx.availIdx, old)) { kicks++; await h.notify(TXQ); }
        check(await h.waitUsed(tx, i), `buffer ${i} not used (avail_event ${tx.availEvent}, ${kicks} kicks so far)`);
      }
      await h.reset();
    } },
]);

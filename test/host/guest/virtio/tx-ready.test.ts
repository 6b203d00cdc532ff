// A full transmit ring stops the queue and wakes it by interrupt (Linux: netif_stop_queue, virtqueue_enable_cb,
// netif_wake_queue): the sender awaits whenTxReady() instead of retrying in a loop (issue 8: udp-perf spun ~70k
// times a second on a full ring, building a packet each time). Tx interrupts stay off while the ring has room.
import t from 'tap';
import { GuestKernel } from '../../../../src/host/guest/kernel.ts';
import type { VirtioNetDevice } from '../../../../src/host/guest/virtio/net-device.ts';
import { bootNode } from './helpers/real-virtio-net.ts';

const dev0 = (k: GuestKernel): VirtioNetDevice => k.bound.find((b) => b.driver.name === 'virtio-pci')!.instance as VirtioNetDevice;
const frame = (i: number): Uint8Array => { const f = new Uint8Array(60); f[58] = i >> 8; f[59] = i & 0xff; return f; };

t.test('a burst that fits the ring raises no tx interrupt', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d = dev0(n.k);
  d.transmit(frame(0)); // the first completion crosses the initial used_event of 0 and may interrupt once
  await n.nic.net.whenIdle();
  sent.length = 0;
  const irqs = d.vstats.txIrqs;
  let ok = 0;
  for (let i = 0; i < 50; i++) if (d.transmit(frame(i))) ok++;
  t.equal(ok, 50, 'all 50 queued');
  await n.nic.net.whenIdle();
  t.equal(sent.length, 50);
  t.equal(d.vstats.txIrqs, irqs, 'completions are reaped on the next transmit, not by interrupt');
});

t.test('a full ring: transmit refuses, whenTxReady resolves on the device\'s tx interrupt, and sending resumes', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d = dev0(n.k);
  let queued = 0;
  while (d.transmit(frame(queued))) queued++; // synchronously: the device has not taken any yet
  t.ok(queued >= 64, `${queued} frames filled the ring`);
  const busy = d.stats.txBusy;
  t.ok(busy >= 1, 'the refusal is counted as busy');
  const irqs = d.vstats.txIrqs;
  await d.whenTxReady();
  t.ok(d.vstats.txIrqs - irqs >= 1, 'woken by a tx interrupt');
  t.ok(d.vstats.txIrqs - irqs <= 4, `a few tx interrupts for a full ring, not one per frame (${d.vstats.txIrqs - irqs})`);
  t.ok(d.transmit(frame(queued)), 'the queue takes frames again');
  await n.nic.net.whenIdle();
  t.equal(sent.length, queued + 1, 'every frame queued went out');
  t.same(sent.map((f) => (f[58]! << 8) | f[59]!), Array.from({ length: queued + 1 }, (_, i) => i), 'in order');
  const after = d.vstats.txIrqs;
  for (let i = 0; i < 10; i++) d.transmit(frame(i));
  await n.nic.net.whenIdle();
  t.equal(d.vstats.txIrqs, after, 'tx interrupts are off again once the queue was woken');
});

t.test('a transmitted frame costs the device about one DMA read (header in front of the frame, descriptors read per batch)', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d = dev0(n.k);
  d.transmit(frame(0));
  await n.nic.net.whenIdle();
  sent.length = 0;
  const reads = n.nic.dmaReads;
  for (let i = 0; i < 100; i++) d.transmit(frame(i));
  await n.nic.net.whenIdle();
  t.equal(sent.length, 100);
  // Two descriptors (header, frame) through an indirect table were four reads per frame: descriptor, table, two buffers.
  // Now the frame's one buffer, plus per batch the avail slots and the descriptors the batch names (one read each).
  const per = (n.nic.dmaReads - reads) / 100;
  t.ok(per <= 1.5, `${per.toFixed(2)} DMA reads per frame`);
});

t.test('whenTxReady resolves at once with room in the ring, and on a reset', async (t) => {
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = () => {}; } });
  const d = dev0(n.k);
  await d.whenTxReady();
  while (d.transmit(frame(0))) { /* fill */ }
  const woken = d.whenTxReady();
  await d.reset();
  await woken;
  t.equal(d.state, 'live', 'a sender waiting across a reset is released, not stranded');
});

// virtio-net device end to end through BAR4 and FakeHost memory: config, TX (single, chained, indirect, checksum
// offload), RX (single buffer, MRG_RXBUF), EVENT_IDX, malformed rings → NEEDS_RESET, DMA confinement, reset.
import t from 'tap';
import {
  ALL_FEATURES, BASE_FEATURES, frameOf, initDevice, kick, makeRig, MAC, netHdr, readCommon, readStatus, writeCommon,
  type Rig,
} from './fixtures/harness.ts';
import { GuestVirtq, seeded } from '../../helpers/virtq.ts';
import { bit, Bar4, DescFlags, FeatureBit, NetConfig, NetFeatureBit, NetHdr, NetHdrFlags, Status } from '../../../src/devices/virtio-net/regs.ts';
import { parseMac, VirtioNet } from '../../../src/devices/virtio-net/net.ts';

const CSUM = bit(NetFeatureBit.CSUM);
const MRG = bit(NetFeatureBit.MRG_RXBUF);
const EVENT_IDX = bit(FeatureBit.RING_EVENT_IDX);
const INDIRECT = bit(FeatureBit.RING_INDIRECT_DESC);

/** Post one TX chain: header then the frame split at `cuts`. */
function postTx(rig: Rig, frame: Uint8Array, hdr = netHdr(), cuts: number[] = []): number {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, frame.length]) { parts.push(frame.subarray(at, c)); at = c; }
  return rig.tx.post([{ data: hdr }, ...parts.map((p) => ({ data: p }))]).head;
}

async function send(rig: Rig): Promise<void> {
  kick(rig.net, 1);
  await rig.net.whenIdle();
}

t.test('identity, BARs and MSI-X placement', async (t) => {
  const { net } = makeRig();
  t.same(net.identity, { vendorId: 0x1af4, deviceId: 0x1041, subsystemVendorId: 0x1af4, subsystemId: 0x40, revisionId: 1, classCode: 0x020000 });
  const bar4 = net.bars.find((b) => b.index === 4);
  t.same([bar4?.size, bar4?.is64, bar4?.prefetchable], [Bar4.SIZE, true, true]);
  t.equal(net.msixBar, 1);
  t.ok(net.bars.some((b) => b.index === net.msixBar), 'MSI-X BAR declared');
  t.ok(net.msixVectors >= 2);
});

t.test('device config: mac, LINK_UP, one queue pair, mtu; read-only', async (t) => {
  const { net, host } = makeRig({ mtu: 1500 });
  const dev = (off: number, size: 1 | 2 | 4): number => net.transport.region.read(Bar4.DEVICE_OFFSET + off, size);
  const mac = Array.from({ length: 6 }, (_, i) => dev(NetConfig.offset.mac + i, 1));
  t.same(mac, [...parseMac(MAC)]);
  t.equal(dev(NetConfig.offset.status, 2), 1);
  t.equal(dev(NetConfig.offset.max_virtqueue_pairs, 2), 1);
  t.equal(dev(NetConfig.offset.mtu, 2), 1500);
  t.equal(dev(NetConfig.offset.mac, 4), 0x12005452, 'a 4-byte read is little-endian');
  net.transport.region.write(Bar4.DEVICE_OFFSET + NetConfig.offset.mac, 1, 0xff);
  t.equal(dev(NetConfig.offset.mac, 1), 0x52);
  t.ok(host.events().includes('virtio-net-config-read-only'));
  t.throws(() => new VirtioNet({ ctx: host.context(), backend: { transmit: () => {} }, mac: '52:54:00' }));
});

t.test('TX: a single-descriptor frame reaches the backend intact', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  const frame = frameOf(60);
  const hdrAndFrame = new Uint8Array(NetHdr.size + frame.length);
  hdrAndFrame.set(frame, NetHdr.size);
  const head = rig.tx.post([{ data: hdrAndFrame }]).head;
  await send(rig);
  t.same(rig.sent.map((f) => [...f]), [[...frame]]);
  t.equal(rig.tx.usedIdx, 1);
  t.same(rig.tx.usedElem(0), { id: head, len: 0 });
  t.same(rig.host.irqs, [2], 'tx vector');
  t.same(rig.net.metrics.snapshot().txPackets, 1);
  t.equal(rig.host.counters.get('virtio_net_tx_bytes_total'), 60);
});

t.test('TX: a chained frame (header + three pieces) is reassembled', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  const frame = frameOf(300, 3);
  postTx(rig, frame, netHdr(), [14, 100]);
  postTx(rig, frameOf(64, 9));
  await send(rig);
  t.equal(rig.sent.length, 2);
  t.same([...rig.sent[0]!], [...frame]);
  t.equal(rig.tx.usedIdx, 2);
  t.same(rig.host.irqs, [2], 'one interrupt for the batch');
});

t.test('TX: an indirect chain is sent when INDIRECT_DESC was negotiated', async (t) => {
  const rig = makeRig();
  initDevice(rig, BASE_FEATURES | INDIRECT);
  const frame = frameOf(200, 5);
  const c = rig.tx.indirectChain([{ data: netHdr() }, { data: frame.subarray(0, 50) }, { data: frame.subarray(50) }]);
  rig.tx.publish(c.head);
  await send(rig);
  t.same([...(rig.sent[0] ?? [])], [...frame]);
  t.equal(rig.tx.usedElem(0).id, c.head);
});

/** Ones'-complement sum of 16-bit big-endian words (test's own, independent of the device's). */
function sum16(bytes: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Ethernet + IPv4 + (UDP|TCP) frame with the L4 checksum field holding the pseudo-header sum, as Linux leaves it. */
function partialFrame(proto: 17 | 6, payload: number): { frame: Uint8Array; csumOffset: number; pseudo: number[] } {
  const l4Header = proto === 17 ? 8 : 20;
  const l4Len = l4Header + payload;
  const f = new Uint8Array(14 + 20 + l4Len);
  const v = new DataView(f.buffer);
  v.setUint16(12, 0x0800);
  v.setUint8(14, 0x45);
  v.setUint16(16, 20 + l4Len);
  v.setUint8(22, 64);
  v.setUint8(23, proto);
  f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  v.setUint16(34, 40000);
  v.setUint16(36, 53);
  if (proto === 17) v.setUint16(38, l4Len); else v.setUint8(46, 0x50);
  for (let i = 0; i < payload; i++) f[34 + l4Header + i] = (i * 13 + 1) & 0xff;
  const pseudo = [10, 0, 0, 1, 10, 0, 0, 2, 0, proto, l4Len >> 8, l4Len & 0xff];
  const csumOffset = proto === 17 ? 6 : 16;
  v.setUint16(34 + csumOffset, sum16(pseudo));
  return { frame: f, csumOffset, pseudo };
}

t.test('CSUM offload completes UDP and TCP checksums correctly', async (t) => {
  for (const [proto, payload] of [[17, 33], [6, 100], [17, 0]] as const) {
    const rig = makeRig();
    initDevice(rig, BASE_FEATURES | CSUM);
    const { frame, csumOffset, pseudo } = partialFrame(proto, payload);
    postTx(rig, frame, netHdr({ flags: NetHdrFlags.NEEDS_CSUM, csumStart: 34, csumOffset }), [20]);
    await send(rig);
    const out = rig.sent[0];
    t.ok(out, `proto ${proto}: sent`);
    if (!out) continue;
    const l4 = [...out.subarray(34)];
    t.equal(sum16([...pseudo, ...l4]), 0xffff, `proto ${proto} payload ${payload}: checksum verifies`);
    t.not((out[34 + csumOffset]! << 8) | out[35 + csumOffset]!, 0, 'never stored as 0');
    t.same([...out.subarray(0, 34)], [...frame.subarray(0, 34)], 'headers before csum_start untouched');
  }
});

t.test('NEEDS_CSUM without CSUM, GSO, or a csum field outside the frame: dropped and counted, buffer returned', async (t) => {
  const rig = makeRig();
  initDevice(rig, BASE_FEATURES);
  postTx(rig, frameOf(60), netHdr({ flags: NetHdrFlags.NEEDS_CSUM, csumStart: 34, csumOffset: 6 }));
  postTx(rig, frameOf(60), netHdr({ gsoType: 1 }));
  await send(rig);
  t.equal(rig.sent.length, 0);
  t.equal(rig.tx.usedIdx, 2);
  t.equal(rig.host.counters.get('virtio_net_tx_dropped_csum_not_negotiated_total'), 1);
  t.equal(rig.host.counters.get('virtio_net_tx_dropped_gso_not_negotiated_total'), 1);
  const rig2 = makeRig();
  initDevice(rig2, BASE_FEATURES | CSUM);
  postTx(rig2, frameOf(40), netHdr({ flags: NetHdrFlags.NEEDS_CSUM, csumStart: 30, csumOffset: 9 }));
  await send(rig2);
  t.equal(rig2.host.counters.get('virtio_net_tx_dropped_bad_csum_offset_total'), 1);
  t.equal(readStatus(rig2.net) & Status.DEVICE_NEEDS_RESET, 0, 'a drop is not a ring fault');
});

t.test('TX buffers posted before DRIVER_OK are not consumed until DRIVER_OK', async (t) => {
  const rig = makeRig();
  postTx(rig, frameOf(60));
  kick(rig.net, 1);
  await rig.net.whenIdle();
  t.equal(rig.sent.length, 0);
  initDevice(rig);
  await rig.net.whenIdle();
  t.equal(rig.sent.length, 1);
});

t.test('RX: a frame lands in one buffer with num_buffers = 1', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  const c = rig.rx.post([{ len: 1526, write: true }]);
  const frame = frameOf(98, 4);
  t.equal(await rig.net.receive(frame), true);
  t.same(rig.rx.usedElem(0), { id: c.head, len: 12 + 98 });
  const got = rig.rx.bytes(c.bufs[0]!.addr, 12 + 98);
  t.same([...got.subarray(0, 10)], new Array(10).fill(0), 'flags 0, GSO none');
  t.equal(got[NetHdr.offset.num_buffers], 1);
  t.same([...got.subarray(12)], [...frame]);
  t.same(rig.host.irqs, [1], 'rx vector');
  t.equal(rig.net.metrics.snapshot().rxBytes, 98);
});

t.test('RX without MRG_RXBUF: a buffer too small drops the frame and stays posted', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  const c = rig.rx.post([{ len: 64, write: true }]);
  t.equal(await rig.net.receive(frameOf(100)), false);
  t.equal(rig.rx.usedIdx, 0);
  t.equal(await rig.net.receive(frameOf(40)), true, 'a frame that fits uses it');
  t.same(rig.rx.usedElem(0), { id: c.head, len: 52 });
});

t.test('RX with MRG_RXBUF merges buffers and sets num_buffers', async (t) => {
  const rig = makeRig();
  initDevice(rig, BASE_FEATURES | MRG);
  const bufs = [0, 1, 2].map(() => rig.rx.post([{ len: 64, write: true }]));
  const frame = frameOf(150, 7);
  t.equal(await rig.net.receive(frame), true);
  t.equal(rig.rx.usedIdx, 3);
  t.same([0, 1, 2].map((i) => rig.rx.usedElem(i)), [{ id: bufs[0]!.head, len: 64 }, { id: bufs[1]!.head, len: 64 }, { id: bufs[2]!.head, len: 34 }]);
  const joined = [...rig.rx.bytes(bufs[0]!.bufs[0]!.addr, 64), ...rig.rx.bytes(bufs[1]!.bufs[0]!.addr, 64), ...rig.rx.bytes(bufs[2]!.bufs[0]!.addr, 34)];
  t.equal(joined[NetHdr.offset.num_buffers], 3);
  t.same(joined.slice(12), [...frame]);
  t.same(rig.host.irqs, [1], 'one interrupt per packet');
});

t.test('RX with too few buffers drops, gives them back, and counts', async (t) => {
  const rig = makeRig();
  initDevice(rig, BASE_FEATURES | MRG);
  t.equal(await rig.net.receive(frameOf(60)), false, 'no buffers at all');
  const first = rig.rx.post([{ len: 64, write: true }]);
  t.equal(await rig.net.receive(frameOf(150)), false, 'one buffer is not enough');
  t.equal(rig.rx.usedIdx, 0);
  t.equal(rig.host.counters.get('virtio_net_rx_dropped_no_buffers_total'), 2);
  rig.rx.post([{ len: 64, write: true }]);
  rig.rx.post([{ len: 64, write: true }]);
  t.equal(await rig.net.receive(frameOf(150)), true);
  t.equal(rig.rx.usedElem(0).id, first.head, 'the given-back buffer is used first');
  t.same(rig.host.irqs, [1]);
});

t.test('EVENT_IDX: no interrupt until used_event is crossed; avail_event re-arms tx kicks', async (t) => {
  const rig = makeRig();
  initDevice(rig, BASE_FEATURES | EVENT_IDX);
  rig.rx.usedEvent = 2; // interrupt when the third buffer is used
  for (let i = 0; i < 4; i++) rig.rx.post([{ len: 1526, write: true }]);
  await rig.net.receive(frameOf(60));
  await rig.net.receive(frameOf(60));
  t.same(rig.host.irqs, [], 'used.idx 0→2 has not crossed used_event 2');
  await rig.net.receive(frameOf(60));
  t.same(rig.host.irqs, [1], 'used.idx 2→3 crosses it');
  await rig.net.receive(frameOf(60));
  t.same(rig.host.irqs, [1], 'and not again');
  rig.tx.usedEvent = 0;
  postTx(rig, frameOf(60));
  postTx(rig, frameOf(60));
  await send(rig);
  t.equal(rig.tx.availEvent, 2, 'avail_event = next avail index the device will read');
  t.same(rig.host.irqs, [1, 2]);
});

t.test('malformed rings set NEEDS_RESET, count, interrupt config, and stop the device', async (t) => {
  const cases: [string, (r: Rig) => Promise<void>][] = [
    ['desc-chain-too-long', async (r) => {
      r.tx.setDesc(0, { addr: 0x40000, len: 20, flags: DescFlags.NEXT, next: 1 });
      r.tx.setDesc(1, { addr: 0x40000, len: 20, flags: DescFlags.NEXT, next: 0 });
      r.tx.publish(0);
      await send(r);
    }],
    ['desc-index-out-of-range', async (r) => { r.tx.publish(99); await send(r); }],
    ['avail-idx-jump', async (r) => { r.tx.availIdx = 40; await send(r); }],
    ['desc-indirect-not-negotiated', async (r) => { r.tx.setDesc(0, { addr: 0x40000, len: 32, flags: DescFlags.INDIRECT }); r.tx.publish(0); await send(r); }],
    ['tx-header-short', async (r) => { r.tx.post([{ data: new Uint8Array(8) }]); await send(r); }],
    ['rx-buffer-short', async (r) => { r.rx.post([{ len: 8, write: true }]); await r.net.receive(frameOf(4)); }],
    ['desc-read-after-write', async (r) => { r.rx.post([{ len: 2000, write: true }, { len: 8 }]); await r.net.receive(frameOf(60)); }],
    ['used-idx-jump', async (r) => { r.rx.post([{ len: 2000, write: true }]); r.rx.usedIdx = 3; await r.net.receive(frameOf(60)); }],
  ];
  for (const [reason, provoke] of cases) {
    const rig = makeRig();
    initDevice(rig);
    await provoke(rig);
    t.ok(readStatus(rig.net) & Status.DEVICE_NEEDS_RESET, `${reason}: NEEDS_RESET`);
    t.ok(rig.host.events().includes(`virtio-ring-${reason}`), `${reason}: named event`);
    t.equal(rig.host.counters.get(`virtio_net_malformed_${reason.replace(/-/g, '_')}_total`), 1, `${reason}: counted`);
    t.same(rig.host.irqs, [0], `${reason}: config-change interrupt on the config vector`);
    postTx(rig, frameOf(60));
    kick(rig.net, 1);
    rig.rx.post([{ len: 2000, write: true }]);
    t.equal(await rig.net.receive(frameOf(60)), false, `${reason}: no rx afterwards`);
    await rig.net.whenIdle();
    t.equal(rig.sent.length, 0, `${reason}: no tx afterwards`);
  }
});

t.test('DMA never leaves the mapped windows: a buffer in unmapped memory faults and sets NEEDS_RESET', async (t) => {
  const rig = makeRig();
  const { host } = rig;
  host.unmapAll();
  host.map(0, 0x80000); // rings and buffers; 0x80000 and up is not this guest's
  const guard = 0x90000;
  host.mem.fill(0xa5, guard, guard + 0x1000);
  initDevice(rig);
  rig.rx.setDesc(0, { addr: guard, len: 2000, flags: DescFlags.WRITE });
  rig.rx.publish(0);
  t.equal(await rig.net.receive(frameOf(60)), false);
  t.ok(host.mem.subarray(guard, guard + 0x1000).every((b) => b === 0xa5), 'unmapped memory untouched');
  t.equal(host.dmaFaults.length, 1);
  t.equal(host.dmaFaults[0]?.addr, guard);
  t.ok(readStatus(rig.net) & Status.DEVICE_NEEDS_RESET);
  t.ok(host.events().includes('virtio-ring-dma-fault'));
  rig.tx.setDesc(0, { addr: guard, len: 100 });
  rig.tx.publish(0);
  kick(rig.net, 1);
  await rig.net.whenIdle();
  t.equal(host.dmaFaults.length, 1, 'no DMA at all once NEEDS_RESET is set');
});

t.test('reset stops the queues; the driver can start over', async (t) => {
  const rig = makeRig();
  initDevice(rig, ALL_FEATURES);
  rig.rx.post([{ len: 2000, write: true }]);
  postTx(rig, frameOf(60));
  await send(rig);
  writeCommon(rig.net, 'device_status', 0);
  t.equal(readStatus(rig.net), 0);
  t.equal(await rig.net.receive(frameOf(60)), false, 'rx after reset is dropped');
  t.equal(rig.host.counters.get('virtio_net_rx_dropped_not_ready_total'), 1);
  const usedBefore = rig.tx.usedIdx;
  postTx(rig, frameOf(60));
  kick(rig.net, 1);
  await rig.net.whenIdle();
  t.equal(rig.tx.usedIdx, usedBefore, 'queues untouched after reset');
  // Start over with freshly zeroed rings at the same addresses: the device's indices restart at 0.
  const again: Rig = { ...rig, rx: new GuestVirtq(rig.host, rig.rx.desc, rig.rx.size, 0x60000), tx: new GuestVirtq(rig.host, rig.tx.desc, rig.tx.size, 0x70000) };
  t.equal(initDevice(again, ALL_FEATURES) & Status.DRIVER_OK, Status.DRIVER_OK);
  postTx(again, frameOf(61));
  await send(again);
  t.equal(again.tx.usedIdx, 1, 'used ring restarts at 0');
  t.equal(rig.sent.at(-1)?.length, 61);
});

t.test('a reset while tx is in flight does not lose the next session\'s kick', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  postTx(rig, frameOf(60));
  kick(rig.net, 1); // the tx run is now awaiting DMA
  writeCommon(rig.net, 'device_status', 0);
  const again: Rig = { ...rig, rx: new GuestVirtq(rig.host, rig.rx.desc, rig.rx.size, 0x60000), tx: new GuestVirtq(rig.host, rig.tx.desc, rig.tx.size, 0x70000) };
  initDevice(again);
  postTx(again, frameOf(77));
  kick(again.net, 1);
  await again.net.whenIdle();
  t.same(rig.sent.map((f) => f.length), [77], 'only the new session\'s frame; the old run stopped before sending');
  t.equal(again.tx.usedIdx, 1);
});

t.test('FLR (PciDeviceModel.reset) and link state', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  rig.net.reset();
  t.equal(readStatus(rig.net), 0);
  initDevice(rig);
  rig.net.setLinkUp(false);
  rig.rx.post([{ len: 2000, write: true }]);
  t.equal(await rig.net.receive(frameOf(60)), false, 'link down drops rx');
  t.equal(rig.net.transport.region.read(Bar4.DEVICE_OFFSET + NetConfig.offset.status, 2), 0);
  rig.net.setLinkUp(true);
  t.equal(await rig.net.receive(frameOf(60)), true);
});

t.test('Bus Master off: kicks do no DMA until it is back on', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  rig.net.busMasterChanged(false);
  postTx(rig, frameOf(60));
  kick(rig.net, 1);
  await rig.net.whenIdle();
  t.equal(rig.sent.length, 0);
  rig.net.busMasterChanged(true);
  await rig.net.whenIdle();
  t.equal(rig.sent.length, 1);
});

t.test('seeded random rings and traffic never throw and never reach unmapped memory', async (t) => {
  let healthy = 0;
  let reset = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const rnd = seeded(seed * 7919);
    const rig = makeRig();
    const { host } = rig;
    host.unmapAll();
    host.map(0, 0x80000);
    initDevice(rig, rnd() < 0.5 ? ALL_FEATURES : BASE_FEATURES);
    for (let i = 0; i < 30; i++) {
      const r = rnd();
      const g = rnd() < 0.5 ? rig.rx : rig.tx;
      if (r < 0.3) g.post([{ data: new Uint8Array(Math.floor(rnd() * 80)) }, { len: Math.floor(rnd() * 200), write: rnd() < 0.5 }]);
      else if (r < 0.45) g.setDesc(Math.floor(rnd() * 20), { addr: Math.floor(rnd() * 0xa0000), len: Math.floor(rnd() * 3000), flags: Math.floor(rnd() * 8), next: Math.floor(rnd() * 20) });
      else if (r < 0.55) g.publish(Math.floor(rnd() * 18));
      else if (r < 0.6) g.availIdx = g.availIdx + Math.floor(rnd() * 3);
      else if (r < 0.8) kick(rig.net, rnd() < 0.9 ? 1 : 0);
      else await rig.net.receive(frameOf(1 + Math.floor(rnd() * 200)));
    }
    await rig.net.whenIdle();
    await host.settle();
    for (const f of host.dmaFaults) if (f.addr < 0x80000 && f.addr + f.length <= 0x80000) t.fail(`seed ${seed}: fault inside the window`);
    if (readStatus(rig.net) & Status.DEVICE_NEEDS_RESET) reset++; else healthy++;
    writeCommon(rig.net, 'device_status', 0);
    t.equal(readCommon(rig.net, 'device_status'), 0);
  }
  t.equal(healthy + reset, 60, `${healthy} healthy, ${reset} needed a reset`);
});

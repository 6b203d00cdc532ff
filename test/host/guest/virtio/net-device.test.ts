// The guest virtio-net driver against the real VirtioNet in a real PciFunction (TestPlatform stand-in): init sequence
// and feature negotiation, vectors, raw TX/RX with checksum offload, mergeable rx buffers, EVENT_IDX kick suppression,
// link status changes and DEVICE_NEEDS_RESET recovery.
import t from 'tap';
import { EthHdr, IpProto, UdpHdr, onesComplementSum, pseudoHeaderSum } from '../../../../src/devices/net-wire.ts';
import { RingError } from '../../../../src/devices/virtio-net/queue.ts';
import { FeatureBit, NetFeatureBit, Status, bit } from '../../../../src/devices/virtio-net/regs.ts';
import { GuestKernel } from '../../../../src/host/guest/kernel.ts';
import { VirtioNetDriver } from '../../../../src/host/guest/virtio/driver.ts';
import type { VirtioNetDevice } from '../../../../src/host/guest/virtio/net-device.ts';
import type { NetDevice } from '../../../../src/host/guest/net/netdev.ts';
import { TestPlatform } from '../helpers/test-platform.ts';
import { attachRealVirtioNet, ipFrame, WireStandIn, ActivityGroup, bootNode } from './helpers/real-virtio-net.ts';

const dev0 = (k: GuestKernel): VirtioNetDevice => k.bound.find((b) => b.driver.name === 'virtio-pci')!.instance as VirtioNetDevice;

t.test('the driver negotiates VERSION_1 and every offered feature it knows, maps vectors, and goes DRIVER_OK', async (t) => {
  const n = await bootNode({ mac: '02:00:00:00:00:0a' });
  const tr = n.nic.net.transport;
  t.equal(tr.status, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  const want = [bit(FeatureBit.VERSION_1), bit(FeatureBit.RING_EVENT_IDX), bit(FeatureBit.RING_INDIRECT_DESC), bit(NetFeatureBit.MAC),
    bit(NetFeatureBit.STATUS), bit(NetFeatureBit.MRG_RXBUF), bit(NetFeatureBit.CSUM), bit(NetFeatureBit.GUEST_CSUM)].reduce((a, b) => a | b);
  t.equal(tr.negotiatedFeatures, want);
  t.equal(tr.configMsixVector, 0);
  t.same(tr.queues.map((q) => [q.msixVector, q.enable, q.size]), [[1, 1, 256], [2, 1, 256]]);
  const d = dev0(n.k);
  t.equal(d.name, 'eth0');
  t.equal(d.state, 'live');
  t.same([...d.mac], [2, 0, 0, 0, 0, 0x0a], 'MAC from the device config');
  t.ok(d.linkUp);
  t.match((await n.k.exec('lspci -v')).output, /Kernel driver in use: virtio-pci/u);
  const irqs = (await n.k.exec('interrupts')).output;
  t.equal(irqs.split('\n').filter((l) => / eth0$/u.test(l)).length, 3, 'config, rx and tx vectors');
  t.match((await n.k.exec('ip link show eth0')).output, /^2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP/u);
  t.match((await n.k.exec('ip link show eth0')).output, /link\/ether 02:00:00:00:00:0a brd ff:ff:ff:ff:ff:ff/u);
});

t.test('transmit hands the device the exact frame and the device completes an offloaded UDP checksum', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d: NetDevice = dev0(n.k);
  t.ok(d.txChecksumOffload);
  const udp = new Uint8Array(UdpHdr.size + 5);
  const uv = new DataView(udp.buffer);
  uv.setUint16(0, 1000); uv.setUint16(2, 2000); uv.setUint16(4, udp.length);
  udp.set([104, 101, 108, 108, 111], 8);
  const f = ipFrame(Uint8Array.of(2, 0, 0, 0, 0, 0xb), d.mac, 0x0a000001, 0x0a000002, IpProto.UDP, udp);
  const l4 = EthHdr.size + 20;
  new DataView(f.buffer).setUint16(l4 + 6, pseudoHeaderSum(0x0a000001, 0x0a000002, IpProto.UDP, udp.length));
  t.ok(d.transmit(f, { start: l4, offset: 6 }));
  await n.nic.net.whenIdle();
  t.equal(sent.length, 1);
  const out = sent[0]!;
  t.same(out.subarray(0, l4 + 6), f.subarray(0, l4 + 6), 'headers as sent');
  t.equal(onesComplementSum(out, l4, out.length, pseudoHeaderSum(0x0a000001, 0x0a000002, IpProto.UDP, udp.length)), 0xffff, 'the checksum verifies');
  t.equal(d.stats.txPackets, 1);
  t.notOk(d.transmit(new Uint8Array(3000)), 'oversize frame refused');
  t.equal(d.stats.txDropped, 1);
});

t.test('a burst of transmits is kicked far fewer times than frames (EVENT_IDX) and every frame arrives', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d = dev0(n.k);
  const before = d.vstats.kicks;
  for (let i = 0; i < 100; i++) {
    const f = new Uint8Array(60);
    f[59] = i;
    t.ok(d.transmit(f));
  }
  await n.nic.net.whenIdle();
  t.equal(sent.length, 100);
  t.same(sent.map((f) => f[59]), Array.from({ length: 100 }, (_, i) => i), 'in order');
  t.ok(d.vstats.kicks - before < 10, `kicks ${d.vstats.kicks - before}`);
  t.ok(d.vstats.kicksSuppressed > 90);
});

t.test('small rx buffers: a 1400-byte ping is merged from several buffers (MRG_RXBUF)', async (t) => {
  const wire = new WireStandIn();
  const group = new ActivityGroup();
  const boot = async (mac: string, ipText: string, attach: (nic: ReturnType<typeof attachRealVirtioNet>) => void) => {
    const p = new TestPlatform({ memBytes: 16 << 20, userData: `ip addr add ${ipText}/24 dev eth0` });
    group.platforms.push(p);
    attach(attachRealVirtioNet(p, 4, mac, group));
    let k: GuestKernel | undefined;
    const driver = new VirtioNetDriver({ registerDevice: (dv) => k!.net.registerDevice(dv) }, { rxBufferSize: 512 });
    k = new GuestKernel(p, { drivers: [driver], net: { dhcp: false } });
    await k.boot();
    await k.userDataDone;
    return k;
  };
  const a = await boot('02:00:00:00:00:0a', '10.0.0.1', wire.attachA);
  const b = await boot('02:00:00:00:00:0b', '10.0.0.2', wire.attachB);
  const r = await a.exec('ping -c 2 -s 1400 10.0.0.2');
  t.match(r.output, /2 packets transmitted, 2 received, 0% packet loss/u);
  t.ok(dev0(a).vstats.rxMergedPackets >= 2, 'replies came in merged buffers');
  t.ok(dev0(b).vstats.rxMergedPackets >= 2, 'requests came in merged buffers');
});

t.test('link down and up arrive as config interrupts; while down nothing is sent', async (t) => {
  const sent: Uint8Array[] = [];
  const n = await bootNode({ mac: '02:00:00:00:00:0a', wire: (nic) => { nic.backend.transmit = (f) => sent.push(f); } });
  const d = dev0(n.k);
  n.nic.net.setLinkUp(false);
  await n.p.waitFor(/net: eth0 link down/u);
  t.notOk(d.linkUp);
  t.equal(d.vstats.configIrqs, 1);
  t.match((await n.k.exec('ip link show eth0')).output, /<NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc mq state DOWN/u);
  t.notOk(d.transmit(new Uint8Array(60)));
  n.nic.net.setLinkUp(true);
  await n.p.waitFor(/net: eth0 link up/u);
  t.ok(d.transmit(new Uint8Array(60)));
  await n.nic.net.whenIdle();
  t.equal(sent.length, 1);
});

t.test('DEVICE_NEEDS_RESET is logged, the device is reset and re-initialised, and traffic flows again', async (t) => {
  const wire = new WireStandIn();
  const group = new ActivityGroup();
  const a = await bootNode({ mac: '02:00:00:00:00:0a', group, wire: wire.attachA, userData: 'ip addr add 10.0.0.1/24 dev eth0' });
  await bootNode({ mac: '02:00:00:00:00:0b', group, wire: wire.attachB, userData: 'ip addr add 10.0.0.2/24 dev eth0' });
  t.match((await a.k.exec('ping -c 1 10.0.0.2')).output, / 0% packet loss/u);
  a.nic.net.transport.fail(new RingError('desc-chain-too-long', { queue: 0 }), 0);
  t.ok(a.nic.net.transport.needsReset);
  await a.p.waitFor(/device needs reset \(device_status=0x4f\), resetting/u);
  const d = dev0(a.k);
  while (d.state !== 'live') await a.p.sleep(1);
  t.equal(d.vstats.resets, 1);
  t.equal(a.nic.net.transport.status, 0x0f, 'DRIVER_OK again, NEEDS_RESET cleared');
  const r = await a.k.exec('ping -c 2 10.0.0.2');
  t.match(r.output, /2 packets transmitted, 2 received, 0% packet loss/u);
});

t.test('poweroff resets the device and gives its vectors back', async (t) => {
  const n = await bootNode({ mac: '02:00:00:00:00:0a' });
  await n.k.run('poweroff');
  t.equal(n.nic.net.transport.status, 0, 'device_status 0');
  t.equal(dev0(n.k).state, 'shutdown');
  t.notOk(n.k.irqs.snapshot().some((r) => r.owner === 'eth0'));
});

t.test('a 1AF4:1041 function without MSI-X or virtio capabilities fails probe with a log line, the guest boots on', async (t) => {
  const p = new TestPlatform({ memBytes: 16 << 20 });
  const cfg = new Uint8Array(256);
  const v = new DataView(cfg.buffer);
  v.setUint16(0, 0x1af4, true);
  v.setUint16(2, 0x1041, true);
  v.setUint32(8, 0x0200_0001, true);
  p.attach(5, {
    configRead: (o, s) => (s === 1 ? v.getUint8(o) : s === 2 ? v.getUint16(o, true) : v.getUint32(o, true)),
    configWrite: (o, s, val) => { if (o === 4 && s === 2) v.setUint16(4, val, true); },
    barRead: () => 0,
    barWrite: () => {},
  });
  const k = new GuestKernel(p, { net: { dhcp: false } });
  await k.boot();
  t.match(p.output, /virtio_net 00:05\.0 eth0: probe failed: no MSI-X capability/u);
  t.equal(k.net.interfaces.length, 1, 'only lo');
  t.equal((await k.exec('echo alive')).output, 'alive\n');
});

// virtio-pci modern transport: vendor capabilities, status state machine and init sequence, feature negotiation,
// ISR, notify routing, config interrupts, NEEDS_RESET, reset.
import t from 'tap';
import {
  ALL_FEATURES, BASE_FEATURES, initDevice, kick, makeRig, readCommon, readDeviceFeatures, readIsr, readStatus,
  setupQueue, writeCommon, writeDriverFeatures,
} from './fixtures/harness.ts';
import {
  Bar4, bit, CfgType, CommonCfg, FeatureBit, Isr, NetConfig, NetFeatureBit, Status, VIRTIO_MSI_NO_VECTOR,
  VirtioPciCap, VirtioPciNotifyCap,
} from '../../../src/devices/virtio-net/regs.ts';
import { RingError } from '../../../src/devices/virtio-net/queue.ts';

const S = Status;

t.test('vendor capabilities: COMMON, NOTIFY, ISR, DEVICE, PCI_CFG into BAR4', async (t) => {
  const { net } = makeRig();
  const caps = net.extraCapabilities;
  const o = VirtioPciCap.offset;
  const decoded = caps.map((c) => {
    const v = new DataView(c.buffer, c.byteOffset, c.byteLength);
    return { vndr: v.getUint8(o.cap_vndr), len: v.getUint8(o.cap_len), type: v.getUint8(o.cfg_type), bar: v.getUint8(o.bar), offset: v.getUint32(o.offset, true), length: v.getUint32(o.length, true), size: c.length };
  });
  t.same(decoded.map((d) => d.type), [CfgType.COMMON, CfgType.NOTIFY, CfgType.ISR, CfgType.DEVICE, CfgType.PCI_CFG]);
  for (const d of decoded) {
    t.equal(d.vndr, 0x09);
    t.equal(d.len, d.size, 'cap_len is the full length');
  }
  t.same(decoded[0], { vndr: 9, len: 16, type: 1, bar: 4, offset: Bar4.COMMON_OFFSET, length: CommonCfg.size, size: 16 });
  t.equal(decoded[1]?.len, 20);
  const notify = caps[1]!;
  const mult = new DataView(notify.buffer).getUint32(VirtioPciNotifyCap.offset.notify_off_multiplier, true);
  t.equal(mult, Bar4.NOTIFY_OFF_MULTIPLIER);
  t.ok(decoded[1]!.length >= 1 * mult + 2, 'notify length covers the last queue');
  t.equal(decoded[2]?.offset, Bar4.ISR_OFFSET);
  t.same([decoded[3]?.offset, decoded[3]?.length], [Bar4.DEVICE_OFFSET, NetConfig.size]);
  t.equal(decoded[4]?.len, 20, 'PCI_CFG cap carries pci_cfg_data');
  for (const d of decoded.slice(0, 4)) t.equal(d.offset % 4, 0, 'structures are 4-byte aligned');
});

t.test('the normative init sequence reaches DRIVER_OK', async (t) => {
  const rig = makeRig();
  const status = initDevice(rig, BASE_FEATURES);
  t.equal(status, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  t.equal(rig.net.transport.driverOk, true);
  t.equal(rig.net.transport.negotiatedFeatures, BASE_FEATURES);
  t.ok(rig.host.events().includes('virtio-driver-ok'));
});

t.test('feature negotiation over the select registers', async (t) => {
  const { net } = makeRig();
  const offered = readDeviceFeatures(net);
  t.equal(offered & bit(FeatureBit.VERSION_1), bit(FeatureBit.VERSION_1), 'VERSION_1 offered (bit 0 of select 1)');
  for (const b of [NetFeatureBit.MAC, NetFeatureBit.STATUS, NetFeatureBit.MRG_RXBUF, NetFeatureBit.CSUM, NetFeatureBit.GUEST_CSUM, FeatureBit.RING_EVENT_IDX, FeatureBit.RING_INDIRECT_DESC]) {
    t.ok(offered & bit(b), `bit ${b} offered`);
  }
  t.equal(offered & bit(NetFeatureBit.MTU), 0n, 'MTU not offered without an mtu option');
  t.equal(offered & bit(NetFeatureBit.CTRL_VQ), 0n);
  writeCommon(net, 'device_feature_select', 2);
  t.equal(readCommon(net, 'device_feature'), 0, 'select ≥ 2 reads 0');
  writeDriverFeatures(net, ALL_FEATURES);
  writeCommon(net, 'driver_feature_select', 1);
  t.equal(readCommon(net, 'driver_feature'), 1, 'driver_feature reads back the accepted high half');
  const withMtu = makeRig({ mtu: 9001 });
  t.ok(readDeviceFeatures(withMtu.net) & bit(NetFeatureBit.MTU), 'MTU offered with an mtu option');
});

t.test('FEATURES_OK does not stick when the driver accepted unoffered features', async (t) => {
  const { net, host } = makeRig();
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER);
  writeDriverFeatures(net, BASE_FEATURES | bit(NetFeatureBit.CTRL_VQ));
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  t.equal(readStatus(net) & S.FEATURES_OK, 0);
  t.ok(host.events().includes('virtio-features-rejected'));
  t.equal(host.counters.get('virtio_net_driver_error_features_rejected_total'), 1);
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  t.equal(readStatus(net) & S.DRIVER_OK, 0, 'DRIVER_OK refused without FEATURES_OK');
  t.ok(host.events().includes('virtio-driver-ok-before-features-ok'));
});

t.test('FEATURES_OK does not stick without VERSION_1', async (t) => {
  const { net } = makeRig();
  writeDriverFeatures(net, bit(NetFeatureBit.MAC));
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  t.equal(readStatus(net) & S.FEATURES_OK, 0);
});

t.test('driver features are frozen after FEATURES_OK', async (t) => {
  const { net, host } = makeRig();
  writeDriverFeatures(net, BASE_FEATURES);
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  writeCommon(net, 'driver_feature_select', 0);
  writeCommon(net, 'driver_feature', 0xffff_ffff);
  t.equal(net.transport.driverFeatures, BASE_FEATURES);
  t.ok(host.events().includes('virtio-features-write-after-features-ok'));
});

t.test('the driver cannot set DEVICE_NEEDS_RESET', async (t) => {
  const { net } = makeRig();
  writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DEVICE_NEEDS_RESET);
  t.equal(readStatus(net), S.ACKNOWLEDGE);
});

t.test('queue registers: sizes, vectors, addresses, notify_off', async (t) => {
  const { net } = makeRig({ queueSize: 64 });
  t.equal(readCommon(net, 'num_queues'), 2);
  writeCommon(net, 'queue_select', 1);
  t.equal(readCommon(net, 'queue_size'), 64, 'maximum at reset');
  t.equal(readCommon(net, 'queue_msix_vector'), VIRTIO_MSI_NO_VECTOR, 'unmapped at reset');
  t.equal(readCommon(net, 'queue_enable'), 0);
  t.equal(readCommon(net, 'queue_notify_off'), 1);
  writeCommon(net, 'queue_msix_vector', 2);
  t.equal(readCommon(net, 'queue_msix_vector'), 2);
  writeCommon(net, 'queue_msix_vector', 3);
  t.equal(readCommon(net, 'queue_msix_vector'), VIRTIO_MSI_NO_VECTOR, 'a vector beyond the table reads back NO_VECTOR');
  writeCommon(net, 'config_msix_vector', 0x7ff);
  t.equal(readCommon(net, 'config_msix_vector'), VIRTIO_MSI_NO_VECTOR);
  writeCommon(net, 'queue_desc', 0x1234_5000, 0);
  writeCommon(net, 'queue_desc', 0x7, 1);
  t.same([readCommon(net, 'queue_desc', 0), readCommon(net, 'queue_desc', 1)], [0x1234_5000, 7]);
  writeCommon(net, 'queue_select', 5);
  t.equal(readCommon(net, 'queue_size'), 0, 'a queue that does not exist reads size 0');
  writeCommon(net, 'queue_size', 8);
  t.equal(readCommon(net, 'queue_size'), 0);
});

t.test('wrong access widths on common cfg are refused and counted', async (t) => {
  const { net, host } = makeRig();
  net.transport.region.write(Bar4.COMMON_OFFSET + CommonCfg.offset.device_status, 4, S.ACKNOWLEDGE);
  t.equal(readStatus(net), 0);
  t.equal(net.transport.region.read(Bar4.COMMON_OFFSET + CommonCfg.offset.queue_select, 4), 0);
  t.equal(net.transport.region.read(Bar4.COMMON_OFFSET + CommonCfg.offset.queue_desc + 2, 2), 0);
  t.equal(host.counters.get('virtio_net_driver_error_common_cfg_bad_access_total'), 3);
  t.equal(net.transport.region.read(Bar4.COMMON_OFFSET + 0x800, 4), 0, 'past the structure reads 0 silently');
});

t.test('ISR is read-to-clear; used notifications set bit 0 and raise the queue vector', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  rig.net.transport.signalQueue(1);
  t.same(rig.host.irqs, [2]);
  t.equal(readIsr(rig.net), Isr.QUEUE);
  t.equal(readIsr(rig.net), 0, 'cleared by the read');
});

t.test('a queue with NO_VECTOR sets ISR but raises nothing', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  writeCommon(rig.net, 'queue_select', 0);
  writeCommon(rig.net, 'queue_msix_vector', VIRTIO_MSI_NO_VECTOR);
  rig.net.transport.signalQueue(0);
  t.same(rig.host.irqs, []);
  t.equal(readIsr(rig.net), Isr.QUEUE);
});

t.test('a config change bumps config_generation and raises the config vector', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  const gen = readCommon(rig.net, 'config_generation');
  rig.net.setLinkUp(false);
  t.equal(readCommon(rig.net, 'config_generation'), (gen + 1) & 0xff);
  t.same(rig.host.irqs, [0]);
  t.equal(readIsr(rig.net), Isr.CONFIG);
});

t.test('fail() sets NEEDS_RESET once, stops queues and sends a config interrupt', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  rig.net.transport.fail(new RingError('avail-idx-jump', { queue: 1 }), 1);
  rig.net.transport.fail(new RingError('avail-idx-jump', { queue: 1 }), 1);
  t.ok(readStatus(rig.net) & S.DEVICE_NEEDS_RESET);
  t.same(rig.host.irqs, [0], 'one config-change interrupt');
  t.equal(rig.host.counters.get('virtio_net_needs_reset_total'), 1);
  t.equal(rig.host.counters.get('virtio_net_malformed_ring_total'), 2);
  t.ok(rig.host.events().includes('virtio-ring-avail-idx-jump'));
  t.equal(rig.net.transport.canDma, false);
});

t.test('a queue programmed badly at DRIVER_OK sets NEEDS_RESET', async (t) => {
  for (const [what, patch] of [
    ['size not a power of two', (r: ReturnType<typeof makeRig>) => { writeCommon(r.net, 'queue_select', 0); writeCommon(r.net, 'queue_size', 12); }],
    ['misaligned descriptor table', (r: ReturnType<typeof makeRig>) => { writeCommon(r.net, 'queue_select', 1); writeCommon(r.net, 'queue_desc', r.tx.desc + 8, 0); }],
    ['address beyond 2^53', (r: ReturnType<typeof makeRig>) => { writeCommon(r.net, 'queue_select', 1); writeCommon(r.net, 'queue_device', 0xffff_0000, 1); }],
  ] as const) {
    const rig = makeRig();
    const { net } = rig;
    writeDriverFeatures(net, BASE_FEATURES);
    writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    writeCommon(net, 'config_msix_vector', 0);
    writeCommon(net, 'queue_select', 0);
    writeCommon(net, 'queue_size', rig.rx.size);
    writeCommon(net, 'queue_select', 1);
    writeCommon(net, 'queue_size', rig.tx.size);
    writeCommon(net, 'queue_desc', rig.tx.desc, 0);
    writeCommon(net, 'queue_driver', rig.tx.avail, 0);
    writeCommon(net, 'queue_device', rig.tx.used, 0);
    patch(rig);
    for (const q of [0, 1]) { writeCommon(net, 'queue_select', q); writeCommon(net, 'queue_enable', 1); }
    writeCommon(net, 'device_status', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    t.ok(readStatus(net) & S.DEVICE_NEEDS_RESET, what);
    t.ok(rig.host.events().includes('virtio-ring-queue-config-invalid'), `${what}: named event`);
    t.same(rig.host.irqs, [0], `${what}: config interrupt`);
  }
});

t.test('queue registers are frozen once the queue is enabled', async (t) => {
  const rig = makeRig();
  setupQueue(rig.net, 1, rig.tx, 2);
  writeCommon(rig.net, 'queue_size', 4);
  t.equal(readCommon(rig.net, 'queue_size'), rig.tx.size);
  t.ok(rig.host.events().includes('virtio-queue-write-after-enable'));
});

t.test('writing 0 resets everything, and status then reads 0', async (t) => {
  const rig = makeRig();
  initDevice(rig);
  rig.net.transport.signalQueue(0);
  writeCommon(rig.net, 'device_status', 0);
  t.equal(readStatus(rig.net), 0);
  t.equal(rig.net.transport.driverFeatures, 0n);
  t.equal(readCommon(rig.net, 'config_msix_vector'), VIRTIO_MSI_NO_VECTOR);
  t.equal(readCommon(rig.net, 'queue_select'), 0, 'queue_select back to 0');
  for (const q of [0, 1]) {
    writeCommon(rig.net, 'queue_select', q);
    t.equal(readCommon(rig.net, 'queue_enable'), 0, `queue ${q} disabled`);
    t.equal(readCommon(rig.net, 'queue_msix_vector'), VIRTIO_MSI_NO_VECTOR, `queue ${q} unmapped`);
    t.equal(readCommon(rig.net, 'queue_size'), 16, `queue ${q} size back to max`);
    t.equal(readCommon(rig.net, 'queue_desc'), 0);
  }
  t.equal(readIsr(rig.net), 0, 'ISR cleared');
});

t.test('kicks before DRIVER_OK, and to unknown queues, are ignored and counted', async (t) => {
  const rig = makeRig();
  kick(rig.net, 1);
  t.ok(rig.host.events().includes('virtio-notify-not-live'));
  initDevice(rig);
  rig.net.transport.region.write(Bar4.NOTIFY_OFFSET, 2, 7);
  t.ok(rig.host.events().includes('virtio-notify-bad'));
});

t.test('the PCI_CFG window reaches BAR4 registers', async (t) => {
  const { net } = makeRig();
  t.equal(net.transport.pciCfgAccess(4, Bar4.COMMON_OFFSET + CommonCfg.offset.num_queues, 2, undefined), 2);
  net.transport.pciCfgAccess(4, Bar4.COMMON_OFFSET + CommonCfg.offset.device_status, 1, S.ACKNOWLEDGE);
  t.equal(readStatus(net), S.ACKNOWLEDGE);
  t.equal(net.transport.pciCfgAccess(2, 0, 4, undefined), 0, 'another BAR reads 0');
  t.equal(net.transport.pciCfgAccess(4, 1, 2, undefined), 0, 'misaligned reads 0');
});

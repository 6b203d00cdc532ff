// A scripted virtio-pci driver for virtio-net tests: drives BAR4 registers directly (no PCI function model) and
// follows the normative init sequence of virtio 1.2 §3.1.1 (specs.md §3.5).
import { FakeHost } from '../../helpers/fake-host.ts';
import { GuestVirtq } from '../../helpers/virtq.ts';
import { VirtioNet, type VirtioNetOptions } from '../../../src/devices/virtio-net/net.ts';
import { Bar4, bit, CommonCfg, FeatureBit, NetFeatureBit, NetHdr, Status, type CommonCfgField } from '../../../src/devices/virtio-net/regs.ts';

export const MAC = '52:54:00:12:34:56';

export interface Rig {
  host: FakeHost;
  net: VirtioNet;
  sent: Uint8Array[];
  rx: GuestVirtq;
  tx: GuestVirtq;
}

export function makeRig(opts: Partial<Omit<VirtioNetOptions, 'ctx' | 'backend'>> & { queueSize?: number } = {}): Rig {
  const host = new FakeHost(1 << 20);
  const sent: Uint8Array[] = [];
  const size = opts.queueSize ?? 16;
  const net = new VirtioNet({ ctx: host.context(), backend: { transmit: (f) => sent.push(f) }, mac: MAC, ...opts, queueSize: size });
  const rx = new GuestVirtq(host, 0x1000, size, 0x10000);
  const tx = new GuestVirtq(host, 0x4000, size, 0x40000);
  return { host, net, sent, rx, tx };
}

const C = CommonCfg.offset;
const width = (f: CommonCfgField): 1 | 2 | 4 => {
  const n = CommonCfg.sizeOf[f];
  return n === 8 ? 4 : (n as 1 | 2 | 4);
};

export function readCommon(net: VirtioNet, f: CommonCfgField, half = 0): number {
  return net.transport.region.read(Bar4.COMMON_OFFSET + C[f] + 4 * half, width(f));
}

export function writeCommon(net: VirtioNet, f: CommonCfgField, value: number, half = 0): void {
  net.transport.region.write(Bar4.COMMON_OFFSET + C[f] + 4 * half, width(f), value);
}

export function readStatus(net: VirtioNet): number { return readCommon(net, 'device_status'); }

/** Offered features, read through device_feature_select 0 and 1. */
export function readDeviceFeatures(net: VirtioNet): bigint {
  writeCommon(net, 'device_feature_select', 0);
  const lo = readCommon(net, 'device_feature');
  writeCommon(net, 'device_feature_select', 1);
  const hi = readCommon(net, 'device_feature');
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function writeDriverFeatures(net: VirtioNet, f: bigint): void {
  writeCommon(net, 'driver_feature_select', 0);
  writeCommon(net, 'driver_feature', Number(f & 0xffff_ffffn));
  writeCommon(net, 'driver_feature_select', 1);
  writeCommon(net, 'driver_feature', Number((f >> 32n) & 0xffff_ffffn));
}

/** Program one queue's registers and enable it. */
export function setupQueue(net: VirtioNet, index: number, q: GuestVirtq, vector: number): void {
  writeCommon(net, 'queue_select', index);
  writeCommon(net, 'queue_size', q.size);
  writeCommon(net, 'queue_msix_vector', vector);
  for (const [f, addr] of [['queue_desc', q.desc], ['queue_driver', q.avail], ['queue_device', q.used]] as const) {
    writeCommon(net, f, addr % 0x1_0000_0000, 0);
    writeCommon(net, f, Math.floor(addr / 0x1_0000_0000), 1);
  }
  writeCommon(net, 'queue_enable', 1);
}

export const BASE_FEATURES = bit(FeatureBit.VERSION_1) | bit(NetFeatureBit.MAC) | bit(NetFeatureBit.STATUS);
export const ALL_FEATURES = BASE_FEATURES | bit(NetFeatureBit.MRG_RXBUF) | bit(NetFeatureBit.CSUM)
  | bit(NetFeatureBit.GUEST_CSUM) | bit(FeatureBit.RING_EVENT_IDX) | bit(FeatureBit.RING_INDIRECT_DESC);

/**
 * Reset → ACKNOWLEDGE → DRIVER → features → FEATURES_OK (checked) → queues → DRIVER_OK.
 * Vectors: config 0, rx 1, tx 2. Returns the status read back at the end.
 */
export function initDevice(rig: Rig, features: bigint = BASE_FEATURES): number {
  const { net } = rig;
  writeCommon(net, 'device_status', 0);
  if (readStatus(net) !== 0) throw new Error('reset did not read back 0');
  writeCommon(net, 'device_status', Status.ACKNOWLEDGE);
  writeCommon(net, 'device_status', Status.ACKNOWLEDGE | Status.DRIVER);
  writeDriverFeatures(net, features);
  writeCommon(net, 'device_status', Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  if (!(readStatus(net) & Status.FEATURES_OK)) throw new Error('FEATURES_OK refused');
  writeCommon(net, 'config_msix_vector', 0);
  setupQueue(net, 0, rig.rx, 1);
  setupQueue(net, 1, rig.tx, 2);
  writeCommon(net, 'device_status', Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  return readStatus(net);
}

/** Kick queue q through its notify address (queue_notify_off(q) × multiplier). */
export function kick(net: VirtioNet, q: number): void {
  writeCommon(net, 'queue_select', q);
  const off = readCommon(net, 'queue_notify_off');
  net.transport.region.write(Bar4.NOTIFY_OFFSET + off * Bar4.NOTIFY_OFF_MULTIPLIER, 2, q);
}

/** Read and clear the ISR byte. */
export function readIsr(net: VirtioNet): number {
  return net.transport.region.read(Bar4.ISR_OFFSET, 1);
}

/** A 12-byte virtio_net_hdr_v1 (all zero unless given). */
export function netHdr(fields: { flags?: number; gsoType?: number; csumStart?: number; csumOffset?: number } = {}): Uint8Array {
  const b = new Uint8Array(NetHdr.size);
  const v = new DataView(b.buffer);
  const o = NetHdr.offset;
  v.setUint8(o.flags, fields.flags ?? 0);
  v.setUint8(o.gso_type, fields.gsoType ?? 0);
  v.setUint16(o.csum_start, fields.csumStart ?? 0, true);
  v.setUint16(o.csum_offset, fields.csumOffset ?? 0, true);
  return b;
}

/** A frame of `len` bytes with a recognisable pattern. */
export function frameOf(len: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) & 0xff);
}

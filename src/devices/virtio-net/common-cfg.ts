// The virtio-pci common configuration block as a register table (virtio 1.2 §4.1.4.3; specs.md §3.3): an ordered
// list of {bytes, name, read, write}, v86 style. Offsets follow from the order and are checked against the
// CommonCfg structure at module load. Access widths follow the spec: 8- and 16-bit fields take accesses of their own
// width, 32- and 64-bit fields take aligned 32-bit accesses (a 64-bit field is two halves, low first).
import { CommonCfg, type CommonCfgField, MAX_QUEUE_SIZE, Status, VIRTIO_MSI_NO_VECTOR } from './regs.ts';

/** Per-queue registers as the driver programs them. */
export interface QueueRegs {
  readonly maxSize: number;
  size: number;
  msixVector: number;
  enable: number;
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
}

export function queueRegsAtReset(maxSize: number): QueueRegs {
  return { maxSize, size: maxSize, msixVector: VIRTIO_MSI_NO_VECTOR, enable: 0, desc: [0, 0], driver: [0, 0], device: [0, 0] };
}

/** The transport state the register table reads and writes. */
export interface CommonCfgState {
  readonly offeredFeatures: bigint;
  readonly queues: readonly QueueRegs[];
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  driverFeatures: bigint;
  configMsixVector: number;
  queueSelect: number;
  readonly status: number;
  readonly configGeneration: number;
  writeStatus(value: number): void;
  /** A vector number the function can signal (or NO_VECTOR); anything else maps to NO_VECTOR. */
  acceptVector(vector: number): number;
  /** A write the spec forbids at this point: ignored, logged, counted. */
  driverError(reason: string, detail: Record<string, number>): void;
}

interface CommonReg {
  readonly name: CommonCfgField;
  readonly bytes: 1 | 2 | 4 | 8;
  /** `half` is 0, or 1 for the high dword of a 64-bit field. */
  read(s: CommonCfgState, half: number): number;
  write(s: CommonCfgState, value: number, half: number): void;
}

const ro = (): void => {};
const selected = (s: CommonCfgState): QueueRegs | undefined => s.queues[s.queueSelect];

function featureHalf(f: bigint, select: number): number {
  if (select > 1) return 0;
  return Number((f >> BigInt(32 * select)) & 0xffff_ffffn);
}

/** Queue registers are frozen once the queue is enabled or the device is live. */
function writableQueue(s: CommonCfgState, field: string): QueueRegs | undefined {
  const q = selected(s);
  if (!q) return undefined;
  if (q.enable !== 0 || (s.status & Status.DRIVER_OK) !== 0) {
    s.driverError('queue-write-after-enable', { queue: s.queueSelect, field: CommonCfg.offset[field as CommonCfgField] });
    return undefined;
  }
  return q;
}

function addrReg(name: 'queue_desc' | 'queue_driver' | 'queue_device', key: 'desc' | 'driver' | 'device'): CommonReg {
  return {
    name, bytes: 8,
    read: (s, half) => selected(s)?.[key][half] ?? 0,
    write: (s, v, half) => { const q = writableQueue(s, name); if (q) q[key][half] = v >>> 0; },
  };
}

export const COMMON_REGS: readonly CommonReg[] = [
  { name: 'device_feature_select', bytes: 4, read: (s) => s.deviceFeatureSelect, write: (s, v) => { s.deviceFeatureSelect = v >>> 0; } },
  { name: 'device_feature', bytes: 4, read: (s) => featureHalf(s.offeredFeatures, s.deviceFeatureSelect), write: ro },
  { name: 'driver_feature_select', bytes: 4, read: (s) => s.driverFeatureSelect, write: (s, v) => { s.driverFeatureSelect = v >>> 0; } },
  {
    name: 'driver_feature', bytes: 4,
    read: (s) => featureHalf(s.driverFeatures, s.driverFeatureSelect),
    write: (s, v) => {
      if (s.status & Status.FEATURES_OK) return s.driverError('features-write-after-features-ok', { value: v });
      if (s.driverFeatureSelect > 1) {
        if (v !== 0) s.driverError('features-write-unknown-select', { select: s.driverFeatureSelect, value: v });
        return;
      }
      const shift = BigInt(32 * s.driverFeatureSelect);
      s.driverFeatures = (s.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(v >>> 0) << shift);
    },
  },
  { name: 'config_msix_vector', bytes: 2, read: (s) => s.configMsixVector, write: (s, v) => { s.configMsixVector = s.acceptVector(v); } },
  { name: 'num_queues', bytes: 2, read: (s) => s.queues.length, write: ro },
  { name: 'device_status', bytes: 1, read: (s) => s.status, write: (s, v) => s.writeStatus(v) },
  { name: 'config_generation', bytes: 1, read: (s) => s.configGeneration & 0xff, write: ro },
  { name: 'queue_select', bytes: 2, read: (s) => s.queueSelect, write: (s, v) => { s.queueSelect = v; } },
  {
    name: 'queue_size', bytes: 2,
    read: (s) => selected(s)?.size ?? 0,
    write: (s, v) => { const q = writableQueue(s, 'queue_size'); if (q) q.size = v; },
  },
  {
    name: 'queue_msix_vector', bytes: 2,
    read: (s) => selected(s)?.msixVector ?? VIRTIO_MSI_NO_VECTOR,
    write: (s, v) => { const q = selected(s); if (q) q.msixVector = s.acceptVector(v); },
  },
  {
    name: 'queue_enable', bytes: 2,
    read: (s) => selected(s)?.enable ?? 0,
    write: (s, v) => {
      const q = selected(s);
      if (!q) return;
      if (v !== 1) return s.driverError('queue-enable-not-one', { queue: s.queueSelect, value: v });
      q.enable = 1;
    },
  },
  // queue_notify_off(q) = q: queue q's notify address is NOTIFY_OFFSET + q·multiplier.
  { name: 'queue_notify_off', bytes: 2, read: (s) => (selected(s) ? s.queueSelect : 0), write: ro },
  addrReg('queue_desc', 'desc'),
  addrReg('queue_driver', 'driver'),
  addrReg('queue_device', 'device'),
  { name: 'queue_notify_data', bytes: 2, read: (s) => (selected(s) ? s.queueSelect : 0), write: ro },
  // VIRTIO_F_RING_RESET is not offered: queue_reset reads 0 and ignores writes.
  { name: 'queue_reset', bytes: 2, read: () => 0, write: ro },
];

/** Byte offset → register, and where each register starts. Built once, checked against the structure. */
const byOffset: (CommonReg | undefined)[] = new Array(CommonCfg.size);
const startOf = new Map<CommonReg, number>();
{
  let at = 0;
  for (const reg of COMMON_REGS) {
    if (CommonCfg.offset[reg.name] !== at || CommonCfg.sizeOf[reg.name] !== reg.bytes) {
      throw new Error(`common cfg table: ${reg.name} at ${at}/${reg.bytes} disagrees with the structure`);
    }
    startOf.set(reg, at);
    for (let i = 0; i < reg.bytes; i++) byOffset[at + i] = reg;
    at += reg.bytes;
  }
  if (at !== CommonCfg.size) throw new Error(`common cfg table covers ${at} of ${CommonCfg.size} bytes`);
}

/** Find the register an access hits and which half; undefined when the width or alignment breaks the rules. */
function decode(offset: number, size: number): { reg: CommonReg; half: number } | undefined {
  const reg = byOffset[offset];
  if (!reg) return undefined;
  const rel = offset - (startOf.get(reg) ?? 0);
  const width = reg.bytes === 8 ? 4 : reg.bytes;
  if (size !== width || rel % width !== 0) return undefined;
  return { reg, half: rel / 4 };
}

export function commonRead(s: CommonCfgState, offset: number, size: 1 | 2 | 4): number {
  const hit = decode(offset, size);
  if (!hit) {
    if (offset < CommonCfg.size) s.driverError('common-cfg-bad-access', { offset, size });
    return 0;
  }
  return hit.reg.read(s, hit.half);
}

export function commonWrite(s: CommonCfgState, offset: number, size: 1 | 2 | 4, value: number): void {
  const hit = decode(offset, size);
  if (!hit) {
    if (offset < CommonCfg.size) s.driverError('common-cfg-bad-access', { offset, size });
    return;
  }
  hit.reg.write(s, value, hit.half);
}

/** A split queue size the driver may choose: a power of two from 1 to the queue's maximum. */
export function validQueueSize(size: number, max: number): boolean {
  return size >= 1 && size <= Math.min(max, MAX_QUEUE_SIZE) && (size & (size - 1)) === 0;
}

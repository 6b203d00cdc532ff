// Log pages (NVMe Base 1.4 §5.14.1; specs.md §2.8): Error Information (01h), SMART / Health (02h), Firmware Slot
// (03h), Changed Namespace List (04h), and the EBS statistics page (D0h, reference/nitro.md §3.2).
import { defineStruct, viewOf, writeU64Number } from '../layout.ts';
import type { HealthCounters, IoStats, QueueStats } from './metrics.ts';
import { HISTOGRAM_BINS, binLower, binUpper } from './metrics.ts';
import { putAscii } from './identify.ts';

export const ErrorLogEntry = defineStruct('NvmeErrorLogEntry', [
  ['errorCount', 'u64'], ['sqid', 'u16'], ['cid', 'u16'], ['status', 'u16'], ['paramErrorLocation', 'u16'],
  ['lba', 'u64'], ['nsid', 'u32'], ['vsia', 'u8'], ['trtype', 'u8'], ['rsvd30', { bytes: 2 }],
  ['csi', 'u64'], ['trtypeSpecific', 'u16'], ['rsvd42', { bytes: 22 }],
] as const, 64);

export const SmartLog = defineStruct('NvmeSmartLog', [
  ['criticalWarning', 'u8'], ['compositeTemperature', 'u16'], ['availableSpare', 'u8'],
  ['availableSpareThreshold', 'u8'], ['percentageUsed', 'u8'], ['enduranceGroupCritical', 'u8'],
  ['rsvd7', { bytes: 25 }],
  ['dataUnitsRead', { bytes: 16 }], ['dataUnitsWritten', { bytes: 16 }],
  ['hostReadCommands', { bytes: 16 }], ['hostWriteCommands', { bytes: 16 }],
  ['controllerBusyTime', { bytes: 16 }], ['powerCycles', { bytes: 16 }], ['powerOnHours', { bytes: 16 }],
  ['unsafeShutdowns', { bytes: 16 }], ['mediaErrors', { bytes: 16 }], ['errorLogEntries', { bytes: 16 }],
  ['warningTemperatureTime', 'u32'], ['criticalTemperatureTime', 'u32'], ['temperatureSensors', { bytes: 16 }],
  ['rsvd216', { bytes: 296 }],
] as const, 512);

export const FirmwareSlotLog = defineStruct('NvmeFirmwareSlotLog', [
  ['afi', 'u8'], ['rsvd1', { bytes: 7 }], ['frs', { bytes: 56 }], ['rsvd64', { bytes: 448 }],
] as const, 512);

const HistogramBin = defineStruct('EbsHistogramBin', [
  ['lower', 'u64'], ['upper', 'u64'], ['count', 'u32'], ['rsvd', 'u32'],
] as const, 24);
export const EbsHistogram = defineStruct('EbsHistogram', [
  ['numBins', 'u64'], ['bins', { bytes: 64 * HistogramBin.size }],
] as const, 8 + 64 * 24);

/** EBS statistics log page, 4096 bytes (all u64 unless noted; times in µs). */
export const EbsStatsLog = defineStruct('EbsStatsLog', [
  ['magic', 'u32'], ['rsvd4', { bytes: 4 }],
  ['totalReadOps', 'u64'], ['totalWriteOps', 'u64'], ['totalReadBytes', 'u64'], ['totalWriteBytes', 'u64'],
  ['totalReadTime', 'u64'], ['totalWriteTime', 'u64'],
  ['ebsVolumePerformanceExceededIops', 'u64'], ['ebsVolumePerformanceExceededTp', 'u64'],
  ['ec2InstanceEbsPerformanceExceededIops', 'u64'], ['ec2InstanceEbsPerformanceExceededTp', 'u64'],
  ['volumeQueueLength', 'u64'], ['rsvd96', { bytes: 416 }],
  ['readHistogram', { bytes: EbsHistogram.size }], ['writeHistogram', { bytes: EbsHistogram.size }],
  ['rsvd3600', { bytes: 496 }],
] as const, 4096);

export const EBS_STATS_MAGIC = 0x3c23b510;

/** Error Information log: a ring of the most recent entries, returned newest first. */
export class ErrorLog {
  private readonly entries: Uint8Array[] = [];
  constructor(private readonly capacity: number) {}

  add(count: number, sqid: number, cid: number, statusField: number, lba: number, nsid: number): void {
    const e = new Uint8Array(ErrorLogEntry.size);
    const v = viewOf(e);
    const O = ErrorLogEntry.offset;
    writeU64Number(v, O.errorCount, count);
    v.setUint16(O.sqid, sqid, true);
    v.setUint16(O.cid, cid, true);
    v.setUint16(O.status, (statusField << 1) & 0xffff, true);
    v.setUint16(O.paramErrorLocation, 0xffff, true);
    if (lba >= 0) writeU64Number(v, O.lba, lba);
    v.setUint32(O.nsid, nsid, true);
    this.entries.unshift(e);
    if (this.entries.length > this.capacity) this.entries.pop();
  }

  build(out: Uint8Array): number {
    const size = this.capacity * ErrorLogEntry.size;
    out.fill(0, 0, size);
    this.entries.forEach((e, i) => out.set(e, i * ErrorLogEntry.size));
    return size;
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/** Write a number as the low 64 bits of a 128-bit little-endian counter. */
function put128(v: DataView, off: number, n: number): void {
  writeU64Number(v, off, Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER));
}

export function buildSmartLog(h: HealthCounters, powerOnNs: bigint, out: Uint8Array): number {
  out.fill(0, 0, SmartLog.size);
  const v = viewOf(out);
  const O = SmartLog.offset;
  v.setUint16(O.compositeTemperature, 310, true);
  v.setUint8(O.availableSpare, 100);
  v.setUint8(O.availableSpareThreshold, 10);
  put128(v, O.dataUnitsRead, Math.ceil(h.bytesRead / 512_000));
  put128(v, O.dataUnitsWritten, Math.ceil(h.bytesWritten / 512_000));
  put128(v, O.hostReadCommands, h.hostReadCommands);
  put128(v, O.hostWriteCommands, h.hostWriteCommands);
  put128(v, O.controllerBusyTime, Math.floor(h.busyNs / 60e9));
  put128(v, O.powerCycles, h.powerCycles);
  put128(v, O.powerOnHours, Number(powerOnNs / 3_600_000_000_000n));
  put128(v, O.unsafeShutdowns, h.unsafeShutdowns);
  put128(v, O.mediaErrors, h.mediaErrors);
  put128(v, O.errorLogEntries, h.errorCount);
  v.setUint16(O.temperatureSensors, 310, true);
  return SmartLog.size;
}

export function buildFirmwareSlotLog(firmware: string, out: Uint8Array): number {
  out.fill(0, 0, FirmwareSlotLog.size);
  out[FirmwareSlotLog.offset.afi] = 1; // slot 1 active
  putAscii(out, FirmwareSlotLog.offset.frs, 8, firmware);
  return FirmwareSlotLog.size;
}

/** Changed Namespace List: up to 1024 NSIDs; more than that is reported as a single 0xFFFFFFFF. */
export function buildChangedNsList(changed: readonly number[], out: Uint8Array): number {
  out.fill(0, 0, 4096);
  const v = viewOf(out);
  if (changed.length > 1024) v.setUint32(0, 0xffff_ffff, true);
  else changed.forEach((n, i) => v.setUint32(i * 4, n, true));
  return 4096;
}

function putHistogram(v: DataView, off: number, counts: Uint32Array): void {
  writeU64Number(v, off + EbsHistogram.offset.numBins, HISTOGRAM_BINS);
  for (let i = 0; i < HISTOGRAM_BINS; i++) {
    const b = off + EbsHistogram.offset.bins + i * HistogramBin.size;
    writeU64Number(v, b + HistogramBin.offset.lower, binLower(i));
    writeU64Number(v, b + HistogramBin.offset.upper, binUpper(i));
    v.setUint32(b + HistogramBin.offset.count, counts[i]!, true);
  }
}

export function buildEbsStatsLog(s: IoStats, out: Uint8Array): number {
  out.fill(0, 0, EbsStatsLog.size);
  const v = viewOf(out);
  const O = EbsStatsLog.offset;
  v.setUint32(O.magic, EBS_STATS_MAGIC, true);
  writeU64Number(v, O.totalReadOps, s.readOps);
  writeU64Number(v, O.totalWriteOps, s.writeOps);
  writeU64Number(v, O.totalReadBytes, s.readBytes);
  writeU64Number(v, O.totalWriteBytes, s.writeBytes);
  writeU64Number(v, O.totalReadTime, Math.round(s.readTimeUs));
  writeU64Number(v, O.totalWriteTime, Math.round(s.writeTimeUs));
  writeU64Number(v, O.ebsVolumePerformanceExceededIops, s.volumeIopsExceededUs);
  writeU64Number(v, O.ebsVolumePerformanceExceededTp, s.volumeTpExceededUs);
  writeU64Number(v, O.ec2InstanceEbsPerformanceExceededIops, s.instanceIopsExceededUs);
  writeU64Number(v, O.ec2InstanceEbsPerformanceExceededTp, s.instanceTpExceededUs);
  writeU64Number(v, O.volumeQueueLength, s.queueLength);
  putHistogram(v, O.readHistogram, s.readHistogram);
  putHistogram(v, O.writeHistogram, s.writeHistogram);
  return EbsStatsLog.size;
}

/** Vendor log page C0h (nitrolab): how I/O SQEs reached the controller and how often it interrupted, all u64. */
export const QueueStatsLog = defineStruct('NitrolabQueueStatsLog', [
  ['ioSqDmaReads', 'u64'], ['ioSqeDmaFetched', 'u64'], ['sqePushed', 'u64'], ['pushFrames', 'u64'],
  ['pushStale', 'u64'], ['ioCqePosted', 'u64'], ['ioInterrupts', 'u64'], ['rsvd56', { bytes: 456 }],
] as const, 512);

export function buildQueueStatsLog(s: QueueStats, out: Uint8Array): number {
  out.fill(0, 0, QueueStatsLog.size);
  const v = viewOf(out);
  const O = QueueStatsLog.offset;
  writeU64Number(v, O.ioSqDmaReads, s.ioSqDmaReads);
  writeU64Number(v, O.ioSqeDmaFetched, s.ioSqeDmaFetched);
  writeU64Number(v, O.sqePushed, s.sqePushed);
  writeU64Number(v, O.pushFrames, s.pushFrames);
  writeU64Number(v, O.pushStale, s.pushStale);
  writeU64Number(v, O.ioCqePosted, s.ioCqePosted);
  writeU64Number(v, O.ioInterrupts, s.ioInterrupts);
  return QueueStatsLog.size;
}

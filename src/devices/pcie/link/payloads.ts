// Encoders/decoders for the fixed payload layouts of messages.ts (docs/link-protocol.md §5), with DataView at the
// layout-derived offsets. Encoders return a view of a module scratch buffer: valid until the next call, which is
// enough because LinkPeer copies a payload into its send slab before returning.
import { readU64Number, viewOf, writeU64Number } from '../../layout.ts';
import { LinkError } from './errors.ts';
import { DmaAccess, DmaMap, DmaUnmap, DoorbellPush, LinkErrno, MsixMessage, PUSH_MAX_ENTRIES, RegionAccess } from './messages.ts';

const RA = RegionAccess.offset;
const DA = DmaAccess.offset;
const DM = DmaMap.offset;
const DU = DmaUnmap.offset;
const MM = MsixMessage.offset;
const DP = DoorbellPush.offset;

const scratch = new Uint8Array(64);
const sv = viewOf(scratch);

function malformed(what: string, len: number, want: number): LinkError {
  return new LinkError(LinkErrno.EINVAL, `${what} payload of ${len} bytes, need ${want}`);
}

function u64(v: DataView, off: number, what: string): number {
  const n = readU64Number(v, off);
  if (n < 0) throw new LinkError(LinkErrno.ERANGE, `${what} above 2^53`);
  return n;
}

/** Little-endian value of a 1/2/4-byte access. */
export function readValue(v: DataView, off: number, count: number): number {
  return count === 1 ? v.getUint8(off) : count === 2 ? v.getUint16(off, true) : v.getUint32(off, true);
}

function writeValue(v: DataView, off: number, count: number, value: number): void {
  if (count === 1) v.setUint8(off, value & 0xff);
  else if (count === 2) v.setUint16(off, value & 0xffff, true);
  else v.setUint32(off, value >>> 0, true);
}

export function isAccessSize(n: number): n is 1 | 2 | 4 {
  return n === 1 || n === 2 || n === 4;
}

/** REGION_READ request / REGION_WRITE reply (no data), or REGION_WRITE request / REGION_READ reply with `value`. */
export function encodeRegionAccess(offset: number, region: number, count: number, value?: number): Uint8Array {
  writeU64Number(sv, RA.offset, offset);
  sv.setUint32(RA.region, region, true);
  sv.setUint32(RA.count, count, true);
  if (value === undefined) return scratch.subarray(0, RegionAccess.size);
  writeValue(sv, RegionAccess.size, count, value);
  return scratch.subarray(0, RegionAccess.size + count);
}

export interface RegionAccessFields { offset: number; region: number; count: number; data: Uint8Array }

export function decodeRegionAccess(p: Uint8Array): RegionAccessFields {
  if (p.byteLength < RegionAccess.size) throw malformed('region access', p.byteLength, RegionAccess.size);
  const v = viewOf(p);
  return {
    offset: u64(v, RA.offset, 'region offset'), region: v.getUint32(RA.region, true), count: v.getUint32(RA.count, true),
    data: p.subarray(RegionAccess.size),
  };
}

/** The access value carried after a region header (count 1, 2 or 4). */
export function regionValue(a: RegionAccessFields): number {
  if (!isAccessSize(a.count) || a.data.byteLength < a.count) {
    throw new LinkError(LinkErrno.EINVAL, `region access of ${a.count} bytes with ${a.data.byteLength} data bytes`);
  }
  return readValue(viewOf(a.data), 0, a.count);
}

/** DMA_READ request / DMA_WRITE header / their replies' header. */
export function encodeDmaAccess(iova: number, count: number): Uint8Array {
  const b = scratch.subarray(32, 32 + DmaAccess.size);
  const v = viewOf(b);
  writeU64Number(v, DA.iova, iova);
  writeU64Number(v, DA.count, count);
  return b;
}

export function decodeDmaAccess(p: Uint8Array): { iova: number; count: number; data: Uint8Array } {
  if (p.byteLength < DmaAccess.size) throw malformed('DMA access', p.byteLength, DmaAccess.size);
  const v = viewOf(p);
  return { iova: u64(v, DA.iova, 'iova'), count: u64(v, DA.count, 'DMA count'), data: p.subarray(DmaAccess.size) };
}

export interface DmaMapFields { flags: number; memId: number; iova: number; size: number; gpa: number }

export function encodeDmaMap(m: DmaMapFields): Uint8Array {
  const b = new Uint8Array(DmaMap.size);
  const v = viewOf(b);
  v.setUint32(DM.flags, m.flags, true);
  v.setUint32(DM.memId, m.memId, true);
  writeU64Number(v, DM.iova, m.iova);
  writeU64Number(v, DM.size, m.size);
  writeU64Number(v, DM.gpa, m.gpa);
  return b;
}

export function decodeDmaMap(p: Uint8Array): DmaMapFields {
  if (p.byteLength < DmaMap.size) throw malformed('DMA_MAP', p.byteLength, DmaMap.size);
  const v = viewOf(p);
  return {
    flags: v.getUint32(DM.flags, true), memId: v.getUint32(DM.memId, true), iova: u64(v, DM.iova, 'iova'),
    size: u64(v, DM.size, 'size'), gpa: u64(v, DM.gpa, 'gpa'),
  };
}

export function encodeDmaUnmap(iova: number, size: number): Uint8Array {
  const b = new Uint8Array(DmaUnmap.size);
  const v = viewOf(b);
  writeU64Number(v, DU.iova, iova);
  writeU64Number(v, DU.size, size);
  return b;
}

export function decodeDmaUnmap(p: Uint8Array): { iova: number; size: number } {
  if (p.byteLength < DmaUnmap.size) throw malformed('DMA_UNMAP', p.byteLength, DmaUnmap.size);
  const v = viewOf(p);
  return { iova: u64(v, DU.iova, 'iova'), size: u64(v, DU.size, 'size') };
}

export function encodeMsix(address: number, data: number, vector: number): Uint8Array {
  const b = scratch.subarray(48, 48 + MsixMessage.size);
  const v = viewOf(b);
  writeU64Number(v, MM.address, address);
  v.setUint32(MM.data, data >>> 0, true);
  v.setUint32(MM.vector, vector >>> 0, true);
  return b;
}

export function decodeMsix(p: Uint8Array): { address: number; data: number; vector: number } {
  if (p.byteLength < MsixMessage.size) throw malformed('MSIX', p.byteLength, MsixMessage.size);
  const v = viewOf(p);
  return { address: u64(v, MM.address, 'MSI address'), data: v.getUint32(MM.data, true), vector: v.getUint32(MM.vector, true) };
}

export interface DoorbellPushFields {
  offset: number;
  region: number;
  value: number;
  start: number;
  count: number;
  entrySize: number;
  /** count × entrySize bytes: a view into the frame (copy it to keep it). */
  entries: Uint8Array;
}

/** DOORBELL_PUSH header (hot path: the guest's doorbell). The entries follow as a second payload part. */
export function encodeDoorbellPush(offset: number, region: number, value: number, start: number, count: number, entrySize: number): Uint8Array {
  const b = scratch.subarray(0, DoorbellPush.size);
  writeU64Number(sv, DP.offset, offset);
  sv.setUint32(DP.region, region, true);
  sv.setUint32(DP.value, value >>> 0, true);
  sv.setUint16(DP.start, start, true);
  sv.setUint16(DP.count, count, true);
  sv.setUint16(DP.entrySize, entrySize, true);
  sv.setUint16(DP.rsvd, 0, true);
  return b;
}

/** Decode and check a DOORBELL_PUSH payload: a short header, a zero or too large count, an entry size that is not a
 *  positive multiple of 4, or entry bytes that do not match count × entrySize are EINVAL. */
export function decodeDoorbellPush(p: Uint8Array): DoorbellPushFields {
  if (p.byteLength < DoorbellPush.size) throw malformed('DOORBELL_PUSH', p.byteLength, DoorbellPush.size);
  const v = viewOf(p);
  const count = v.getUint16(DP.count, true);
  const entrySize = v.getUint16(DP.entrySize, true);
  if (count === 0 || count > PUSH_MAX_ENTRIES) throw new LinkError(LinkErrno.EINVAL, `DOORBELL_PUSH count ${count} outside 1..${PUSH_MAX_ENTRIES}`);
  if (entrySize === 0 || (entrySize & 3) !== 0) throw new LinkError(LinkErrno.EINVAL, `DOORBELL_PUSH entry size ${entrySize}`);
  const want = DoorbellPush.size + count * entrySize;
  if (p.byteLength !== want) throw new LinkError(LinkErrno.EINVAL, `DOORBELL_PUSH of ${count} × ${entrySize} B entries has ${p.byteLength - DoorbellPush.size} entry bytes`);
  return {
    offset: u64(v, DP.offset, 'doorbell offset'), region: v.getUint32(DP.region, true), value: v.getUint32(DP.value, true),
    start: v.getUint16(DP.start, true), count, entrySize, entries: p.subarray(DoorbellPush.size),
  };
}

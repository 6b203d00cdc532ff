// Identify data structures (NVMe Base 1.4 §5.15; specs.md §2.8, §2.10, §2.11, §2.13): Controller (CNS 01h),
// Namespace (CNS 00h), Active NSID list (CNS 02h) and Namespace Identification Descriptors (CNS 03h).
import { defineStruct, viewOf, writeU64Number } from '../layout.ts';
import type { Namespace } from './namespace.ts';

export const IDENTIFY_SIZE = 4096;

export const IdCtrl = defineStruct('NvmeIdCtrl', [
  ['vid', 'u16'], ['ssvid', 'u16'], ['sn', { bytes: 20 }], ['mn', { bytes: 40 }], ['fr', { bytes: 8 }],
  ['rab', 'u8'], ['ieee', { bytes: 3 }], ['cmic', 'u8'], ['mdts', 'u8'], ['cntlid', 'u16'],
  ['ver', 'u32'], ['rtd3r', 'u32'], ['rtd3e', 'u32'], ['oaes', 'u32'], ['ctratt', 'u32'], ['rrls', 'u16'],
  ['rsvd102', { bytes: 9 }], ['cntrltype', 'u8'], ['fguid', { bytes: 16 }], ['crdt', { bytes: 6 }],
  ['rsvd134', { bytes: 122 }],
  ['oacs', 'u16'], ['acl', 'u8'], ['aerl', 'u8'], ['frmw', 'u8'], ['lpa', 'u8'], ['elpe', 'u8'], ['npss', 'u8'],
  ['avscc', 'u8'], ['apsta', 'u8'], ['wctemp', 'u16'], ['cctemp', 'u16'], ['rsvd270', { bytes: 242 }],
  ['sqes', 'u8'], ['cqes', 'u8'], ['maxcmd', 'u16'], ['nn', 'u32'], ['oncs', 'u16'], ['fuses', 'u16'],
  ['fna', 'u8'], ['vwc', 'u8'], ['awun', 'u16'], ['awupf', 'u16'], ['nvscc', 'u8'], ['nwpc', 'u8'], ['acwu', 'u16'],
  ['rsvd534', { bytes: 2 }], ['sgls', 'u32'], ['mnan', 'u32'], ['rsvd544', { bytes: 224 }],
  ['subnqn', { bytes: 256 }], ['rsvd1024', { bytes: 1024 }],
  ['psd0', { bytes: 32 }], ['psd1_31', { bytes: 992 }],
  ['vs', { bytes: 1024 }],
] as const, IDENTIFY_SIZE);

/** Power state descriptor fields (offsets inside a 32-byte PSD). */
export const Psd = defineStruct('NvmePsd', [
  ['mp', 'u16'], ['rsvd2', 'u8'], ['flags', 'u8'], ['enlat', 'u32'], ['exlat', 'u32'], ['rest', { bytes: 20 }],
] as const, 32);

export const IdNs = defineStruct('NvmeIdNs', [
  ['nsze', 'u64'], ['ncap', 'u64'], ['nuse', 'u64'], ['nsfeat', 'u8'], ['nlbaf', 'u8'], ['flbas', 'u8'],
  ['mc', 'u8'], ['dpc', 'u8'], ['dps', 'u8'], ['nmic', 'u8'], ['rescap', 'u8'], ['fpi', 'u8'], ['dlfeat', 'u8'],
  ['nawun', 'u16'], ['nawupf', 'u16'], ['nacwu', 'u16'], ['nabsn', 'u16'], ['nabo', 'u16'], ['nabspf', 'u16'],
  ['noiob', 'u16'], ['nvmcap', { bytes: 16 }], ['rsvd64', { bytes: 28 }], ['anagrpid', 'u32'],
  ['rsvd96', { bytes: 8 }], ['nguid', { bytes: 16 }], ['eui64', { bytes: 8 }], ['lbaf', { bytes: 64 }],
  ['rsvd192', { bytes: 192 }], ['vs', { bytes: 3712 }],
] as const, IDENTIFY_SIZE);

/** Everything Identify Controller reports that is not a constant of this emulator. */
export interface ControllerInfo {
  readonly vid: number;
  readonly ssvid: number;
  readonly serial: string;
  readonly model: string;
  readonly firmware: string;
  readonly mdts: number;
  readonly cntlid: number;
  readonly version: number;
  readonly nn: number;
  readonly maxcmd: number;
  readonly acl: number;
  readonly aerl: number;
  readonly elpe: number;
  /** Block-device mapping name for the vendor-specific area (EBS), or '' for none. */
  readonly blockDeviceName: string;
}

/** OAES bit 8: Namespace Attribute Notices. */
export const OAES_NS_ATTR = 1 << 8;
/** ONCS: DSM (2), Write Zeroes (3), Save/Select in Features (4), Timestamp (6). */
export const ONCS = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6);
/** VWC: volatile write cache present (0), Flush with NSID FFFFFFFFh supported (2:1 = 11b). */
export const VWC = 0x07;
/** LPA bit 2: extended data for Get Log Page (NUMDU, LPO). */
export const LPA = 1 << 2;

/** Write `s` as space-padded ASCII into `out[off, off+len)` (specs.md §2.10: no NUL). */
export function putAscii(out: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) {
    const ch = i < s.length ? s.charCodeAt(i) : 0x20;
    out[off + i] = ch >= 0x20 && ch < 0x7f ? ch : 0x20;
  }
}

export function buildIdentifyController(info: ControllerInfo, out: Uint8Array): void {
  out.fill(0, 0, IDENTIFY_SIZE);
  const v = viewOf(out);
  const O = IdCtrl.offset;
  v.setUint16(O.vid, info.vid, true);
  v.setUint16(O.ssvid, info.ssvid, true);
  putAscii(out, O.sn, 20, info.serial);
  putAscii(out, O.mn, 40, info.model);
  putAscii(out, O.fr, 8, info.firmware);
  v.setUint8(O.rab, 6);
  v.setUint8(O.mdts, info.mdts);
  v.setUint16(O.cntlid, info.cntlid, true);
  v.setUint32(O.ver, info.version, true);
  v.setUint32(O.rtd3e, 1_000_000, true);
  v.setUint32(O.oaes, OAES_NS_ATTR, true);
  v.setUint8(O.cntrltype, 1);
  v.setUint8(O.acl, info.acl);
  v.setUint8(O.aerl, info.aerl);
  v.setUint8(O.frmw, 0x03); // slot 1 read-only, one slot
  v.setUint8(O.lpa, LPA);
  v.setUint8(O.elpe, info.elpe);
  v.setUint16(O.wctemp, 343, true);
  v.setUint16(O.cctemp, 373, true);
  v.setUint8(O.sqes, 0x66);
  v.setUint8(O.cqes, 0x44);
  v.setUint16(O.maxcmd, info.maxcmd, true);
  v.setUint32(O.nn, info.nn, true);
  v.setUint16(O.oncs, ONCS, true);
  v.setUint8(O.vwc, VWC);
  const nqn = `nqn.2014-08.org.nvmexpress:${info.vid.toString(16)}${info.ssvid.toString(16)}${info.serial}`;
  for (let i = 0; i < nqn.length && i < 255; i++) out[O.subnqn + i] = nqn.charCodeAt(i) & 0x7f;
  v.setUint16(O.psd0 + Psd.offset.mp, 2500, true); // 25 W
  if (info.blockDeviceName !== '') putAscii(out, O.vs, 32, info.blockDeviceName);
}

/** A stable 16-byte NGUID for a namespace, derived from the controller serial and NSID (FNV-1a). */
export function namespaceGuid(serial: string, nsid: number, out: Uint8Array, off: number): void {
  let h = 0x811c9dc5;
  const s = `${serial}/${nsid}`;
  for (let word = 0; word < 4; word++) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i) ^ word, 0x01000193) >>> 0;
    viewOf(out).setUint32(off + word * 4, h, false);
  }
}

export function buildIdentifyNamespace(ns: Namespace, serial: string, out: Uint8Array): void {
  out.fill(0, 0, IDENTIFY_SIZE);
  const v = viewOf(out);
  const O = IdNs.offset;
  writeU64Number(v, O.nsze, ns.nsze);
  writeU64Number(v, O.ncap, ns.nsze);
  writeU64Number(v, O.nuse, ns.nsze);
  v.setUint8(O.nlbaf, 0); // one LBA format
  v.setUint8(O.flbas, 0);
  v.setUint8(O.dlfeat, 0x09); // deallocated blocks read as zeros; Write Zeroes DEAC supported
  writeU64Number(v, O.nvmcap, ns.nsze * ns.lbaSize);
  namespaceGuid(serial, ns.nsid, out, O.nguid);
  v.setUint32(O.lbaf, ns.lbads << 16, true);
}

/** CNS 02h: active NSIDs greater than `after`, ascending, up to 1024, zero-padded. */
export function buildActiveNsList(active: Iterable<number>, after: number, out: Uint8Array): void {
  out.fill(0, 0, IDENTIFY_SIZE);
  const ids = [...active].filter((n) => n > after).sort((a, b) => a - b).slice(0, 1024);
  const v = viewOf(out);
  ids.forEach((n, i) => v.setUint32(i * 4, n, true));
}

/** Descriptor types (NIDT) used in CNS 03h. */
export const Nidt = { EUI64: 1, NGUID: 2, UUID: 3, CSI: 4 } as const;

/** CNS 03h: NGUID and CSI (NVM = 0) descriptors, each `{NIDT, NIDL, rsvd u16, NID}`. */
export function buildNsDescriptors(ns: Namespace, serial: string, out: Uint8Array): void {
  out.fill(0, 0, IDENTIFY_SIZE);
  out[0] = Nidt.NGUID;
  out[1] = 16;
  namespaceGuid(serial, ns.nsid, out, 4);
  out[20] = Nidt.CSI;
  out[21] = 1;
  out[24] = 0;
}

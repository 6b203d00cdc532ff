// Decoding of the data structures the driver fetches: Identify Controller (specs.md §2.10), Identify Namespace (§2.11),
// SMART / Health log (§2.8), and EBS's vendor-specific bdev name (§2.13). Cold path: run once per (re)scan.
import { IdCtrl, IdNs, SmartLog } from './regs.ts';
import { readU64Number, viewOf } from '../../../devices/layout.ts';

export interface IdController {
  readonly vid: number;
  readonly ssvid: number;
  readonly sn: string;
  readonly mn: string;
  readonly fr: string;
  readonly rab: number;
  readonly ieee: number;
  readonly cmic: number;
  readonly mdts: number;
  readonly cntlid: number;
  readonly ver: number;
  readonly rtd3r: number;
  readonly rtd3e: number;
  readonly oaes: number;
  readonly ctratt: number;
  readonly cntrltype: number;
  readonly oacs: number;
  readonly acl: number;
  readonly aerl: number;
  readonly frmw: number;
  readonly lpa: number;
  readonly elpe: number;
  readonly npss: number;
  readonly wctemp: number;
  readonly cctemp: number;
  readonly sqes: number;
  readonly cqes: number;
  readonly maxcmd: number;
  readonly nn: number;
  readonly oncs: number;
  readonly fuses: number;
  readonly fna: number;
  readonly vwc: number;
  readonly awun: number;
  readonly awupf: number;
  readonly sgls: number;
  readonly subnqn: string;
  /** EBS: block-device mapping name from the vendor-specific area (`sdf`, `/dev/xvda`…), '' if none. */
  readonly ebsBdev: string;
}

export interface LbaFormat {
  readonly ms: number;
  readonly lbads: number;
  readonly rp: number;
}

export interface IdNamespace {
  readonly nsze: number;
  readonly ncap: number;
  readonly nuse: number;
  readonly nsfeat: number;
  readonly nlbaf: number;
  readonly flbas: number;
  readonly mc: number;
  readonly dpc: number;
  readonly dps: number;
  readonly nmic: number;
  readonly dlfeat: number;
  readonly nguid: string;
  readonly eui64: string;
  readonly lbaf: readonly LbaFormat[];
  /** Index of the formatted LBA format and its data size in bytes. */
  readonly flbaIndex: number;
  readonly lbaSize: number;
}

export interface SmartHealth {
  readonly criticalWarning: number;
  /** Kelvin. */
  readonly temperature: number;
  readonly availSpare: number;
  readonly spareThresh: number;
  readonly percentUsed: number;
  readonly dataUnitsRead: bigint;
  readonly dataUnitsWritten: bigint;
  readonly hostReads: bigint;
  readonly hostWrites: bigint;
  readonly ctrlBusyTime: bigint;
  readonly powerCycles: bigint;
  readonly powerOnHours: bigint;
  readonly unsafeShutdowns: bigint;
  readonly mediaErrors: bigint;
  readonly numErrLogEntries: bigint;
  readonly warningTempTime: number;
  readonly criticalCompTime: number;
}

const decoder = new TextDecoder('latin1');

/** An ASCII field, trailing spaces and NULs removed. */
export function asciiField(b: Uint8Array, off: number, len: number): string {
  return decoder.decode(b.subarray(off, off + len)).replace(/[\0 ]+$/u, '').replace(/[^\x20-\x7e]/gu, '.');
}

function hexField(b: Uint8Array, off: number, len: number): string {
  return [...b.subarray(off, off + len)].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function u128(v: DataView, off: number): bigint {
  return v.getBigUint64(off, true) | (v.getBigUint64(off + 8, true) << 64n);
}

export function parseIdCtrl(b: Uint8Array): IdController {
  const v = viewOf(b);
  const O = IdCtrl.offset;
  const ieee = v.getUint8(O.ieee) | (v.getUint8(O.ieee + 1) << 8) | (v.getUint8(O.ieee + 2) << 16);
  return {
    vid: v.getUint16(O.vid, true),
    ssvid: v.getUint16(O.ssvid, true),
    sn: asciiField(b, O.sn, IdCtrl.sizeOf.sn),
    mn: asciiField(b, O.mn, IdCtrl.sizeOf.mn),
    fr: asciiField(b, O.fr, IdCtrl.sizeOf.fr),
    rab: v.getUint8(O.rab),
    ieee,
    cmic: v.getUint8(O.cmic),
    mdts: v.getUint8(O.mdts),
    cntlid: v.getUint16(O.cntlid, true),
    ver: v.getUint32(O.ver, true),
    rtd3r: v.getUint32(O.rtd3r, true),
    rtd3e: v.getUint32(O.rtd3e, true),
    oaes: v.getUint32(O.oaes, true),
    ctratt: v.getUint32(O.ctratt, true),
    cntrltype: v.getUint8(O.cntrltype),
    oacs: v.getUint16(O.oacs, true),
    acl: v.getUint8(O.acl),
    aerl: v.getUint8(O.aerl),
    frmw: v.getUint8(O.frmw),
    lpa: v.getUint8(O.lpa),
    elpe: v.getUint8(O.elpe),
    npss: v.getUint8(O.npss),
    wctemp: v.getUint16(O.wctemp, true),
    cctemp: v.getUint16(O.cctemp, true),
    sqes: v.getUint8(O.sqes),
    cqes: v.getUint8(O.cqes),
    maxcmd: v.getUint16(O.maxcmd, true),
    nn: v.getUint32(O.nn, true),
    oncs: v.getUint16(O.oncs, true),
    fuses: v.getUint16(O.fuses, true),
    fna: v.getUint8(O.fna),
    vwc: v.getUint8(O.vwc),
    awun: v.getUint16(O.awun, true),
    awupf: v.getUint16(O.awupf, true),
    sgls: v.getUint32(O.sgls, true),
    subnqn: decoder.decode(b.subarray(O.subnqn, O.subnqn + IdCtrl.sizeOf.subnqn)).replace(/\0.*$/su, ''),
    ebsBdev: asciiField(b, O.vs, 32),
  };
}

export function parseIdNs(b: Uint8Array): IdNamespace {
  const v = viewOf(b);
  const O = IdNs.offset;
  const nlbaf = v.getUint8(O.nlbaf);
  const lbaf: LbaFormat[] = [];
  for (let i = 0; i <= Math.min(nlbaf, 63); i++) {
    const d = v.getUint32(O.lbaf + 4 * i, true);
    lbaf.push({ ms: d & 0xffff, lbads: (d >>> 16) & 0xff, rp: (d >>> 24) & 0x3 });
  }
  const flbas = v.getUint8(O.flbas);
  const flbaIndex = (flbas & 0xf) | (nlbaf > 16 ? ((flbas >>> 5) & 0x3) << 4 : 0);
  const lbads = lbaf[flbaIndex]?.lbads ?? 0;
  return {
    nsze: readU64Number(v, O.nsze),
    ncap: readU64Number(v, O.ncap),
    nuse: readU64Number(v, O.nuse),
    nsfeat: v.getUint8(O.nsfeat),
    nlbaf,
    flbas,
    mc: v.getUint8(O.mc),
    dpc: v.getUint8(O.dpc),
    dps: v.getUint8(O.dps),
    nmic: v.getUint8(O.nmic),
    dlfeat: v.getUint8(O.dlfeat),
    nguid: hexField(b, O.nguid, 16),
    eui64: hexField(b, O.eui64, 8),
    lbaf,
    flbaIndex,
    // A namespace must use LBADS ≥ 9; anything else is reported as 0 and the namespace is not registered.
    lbaSize: lbads >= 9 && lbads <= 16 ? 1 << lbads : 0,
  };
}

export function parseSmartLog(b: Uint8Array): SmartHealth {
  const v = viewOf(b);
  const O = SmartLog.offset;
  return {
    criticalWarning: v.getUint8(O.criticalWarning),
    temperature: v.getUint16(O.compositeTemperature, true),
    availSpare: v.getUint8(O.availableSpare),
    spareThresh: v.getUint8(O.availableSpareThreshold),
    percentUsed: v.getUint8(O.percentageUsed),
    dataUnitsRead: u128(v, O.dataUnitsRead),
    dataUnitsWritten: u128(v, O.dataUnitsWritten),
    hostReads: u128(v, O.hostReadCommands),
    hostWrites: u128(v, O.hostWriteCommands),
    ctrlBusyTime: u128(v, O.controllerBusyTime),
    powerCycles: u128(v, O.powerCycles),
    powerOnHours: u128(v, O.powerOnHours),
    unsafeShutdowns: u128(v, O.unsafeShutdowns),
    mediaErrors: u128(v, O.mediaErrors),
    numErrLogEntries: u128(v, O.errorLogEntries),
    warningTempTime: v.getUint32(O.warningTemperatureTime, true),
    criticalCompTime: v.getUint32(O.criticalTemperatureTime, true),
  };
}

/** `1.4.0` from a VS/VER value. */
export function versionText(vs: number): string {
  return `${(vs >>> 16) & 0xffff}.${(vs >>> 8) & 0xff}.${vs & 0xff}`;
}

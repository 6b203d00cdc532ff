// Guest driver's view of NVMe (specs.md §2.2–2.11): BAR0 registers, CAP/CC/CSTS fields, SQE/CQE, the Identify and
// SMART structures and opcodes. Declared once here with defineStruct; the driver uses the derived offsets.
import { defineStruct } from '../../../devices/layout.ts';

/** BAR0 controller registers up to CRTO (specs.md §2.2). 64-bit registers are accessed as lo/hi u32 halves. */
export const NvmeRegs = defineStruct('NvmeRegs', [
  ['CAP', 'u64'],
  ['VS', 'u32'],
  ['INTMS', 'u32'],
  ['INTMC', 'u32'],
  ['CC', 'u32'],
  ['rsvd0', { bytes: 4 }],
  ['CSTS', 'u32'],
  ['NSSR', 'u32'],
  ['AQA', 'u32'],
  ['ASQ', 'u64'],
  ['ACQ', 'u64'],
] as const, 0x38);

/** First doorbell (SQ0TDBL); SQyTDBL = 0x1000 + 2y·stride, CQyHDBL = 0x1000 + (2y+1)·stride. */
export const DOORBELL_BASE = 0x1000;

/** CAP fields (specs.md §2.3), taken from the lo and hi u32 halves. */
export const CAP = {
  mqes: (lo: number): number => lo & 0xffff,
  cqr: (lo: number): boolean => ((lo >>> 16) & 1) === 1,
  /** Ready timeout in 500 ms units. */
  to: (lo: number): number => (lo >>> 24) & 0xff,
  dstrd: (hi: number): number => hi & 0xf,
  nssrs: (hi: number): boolean => ((hi >>> 4) & 1) === 1,
  /** CSS bits 44:37 → hi bits 12:5. */
  css: (hi: number): number => (hi >>> 5) & 0xff,
  mpsmin: (hi: number): number => (hi >>> 16) & 0xf,
  mpsmax: (hi: number): number => (hi >>> 20) & 0xf,
} as const;

/** CC fields (specs.md §2.3). */
export const CC = {
  EN: 1 << 0,
  CSS_NVM: 0 << 4,
  CSS_CSI: 6 << 4,
  MPS_SHIFT: 7,
  AMS_RR: 0 << 11,
  SHN_MASK: 3 << 14,
  SHN_NORMAL: 1 << 14,
  SHN_ABRUPT: 2 << 14,
  IOSQES: 6 << 16,
  IOCQES: 4 << 20,
} as const;

/** CSTS fields (specs.md §2.3). */
export const CSTS = {
  RDY: 1 << 0,
  CFS: 1 << 1,
  SHST_MASK: 3 << 2,
  SHST_OCCUR: 1 << 2,
  SHST_CMPLT: 2 << 2,
  NSSRO: 1 << 4,
} as const;

/** Submission Queue Entry, 64 bytes (specs.md §2.5). */
export const Sqe = defineStruct('Sqe', [
  ['opc', 'u8'],
  ['flags', 'u8'],
  ['cid', 'u16'],
  ['nsid', 'u32'],
  ['cdw2', 'u32'],
  ['cdw3', 'u32'],
  ['mptr', 'u64'],
  ['prp1', 'u64'],
  ['prp2', 'u64'],
  ['cdw10', 'u32'],
  ['cdw11', 'u32'],
  ['cdw12', 'u32'],
  ['cdw13', 'u32'],
  ['cdw14', 'u32'],
  ['cdw15', 'u32'],
] as const, 64);

/** Completion Queue Entry, 16 bytes (specs.md §2.6). */
export const Cqe = defineStruct('Cqe', [
  ['dw0', 'u32'],
  ['dw1', 'u32'],
  ['sqhd', 'u16'],
  ['sqid', 'u16'],
  ['cid', 'u16'],
  /** bit 0 P, 8:1 SC, 11:9 SCT, 13:12 CRD, 14 M, 15 DNR. */
  ['status', 'u16'],
] as const, 16);

export const STATUS = {
  P: 1,
  sc: (s: number): number => (s >>> 1) & 0xff,
  sct: (s: number): number => (s >>> 9) & 0x7,
  dnr: (s: number): boolean => (s & 0x8000) !== 0,
} as const;

export const AdminOpc = {
  DELETE_SQ: 0x00,
  CREATE_SQ: 0x01,
  GET_LOG_PAGE: 0x02,
  DELETE_CQ: 0x04,
  CREATE_CQ: 0x05,
  IDENTIFY: 0x06,
  ABORT: 0x08,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  ASYNC_EVENT: 0x0c,
} as const;

export const IoOpc = {
  FLUSH: 0x00,
  WRITE: 0x01,
  READ: 0x02,
  WRITE_ZEROES: 0x08,
  DSM: 0x09,
} as const;

export const Cns = { NAMESPACE: 0x00, CONTROLLER: 0x01, ACTIVE_NS_LIST: 0x02 } as const;
export const Fid = { NUM_QUEUES: 0x07, ASYNC_EVENT_CONFIG: 0x0b } as const;
export const Lid = { ERROR: 0x01, SMART: 0x02, FW_SLOT: 0x03, CHANGED_NS_LIST: 0x04 } as const;

/** Create I/O CQ CDW11 bits; Create I/O SQ CDW11 bit 0. */
export const QueueFlags = { PC: 1 << 0, IEN: 1 << 1 } as const;

/** Async event: DW0[2:0] type, [15:8] info, [23:16] log page (specs.md §2.8). */
export const AsyncEvent = {
  type: (dw0: number): number => dw0 & 0x7,
  info: (dw0: number): number => (dw0 >>> 8) & 0xff,
  logPage: (dw0: number): number => (dw0 >>> 16) & 0xff,
  TYPE_NOTICE: 2,
  NOTICE_NS_CHANGED: 0x00,
} as const;

/** Identify Controller (CNS 01h), the fields the guest reads (specs.md §2.10). */
export const IdCtrl = defineStruct('IdCtrl', [
  ['vid', 'u16'],
  ['ssvid', 'u16'],
  ['sn', { bytes: 20 }],
  ['mn', { bytes: 40 }],
  ['fr', { bytes: 8 }],
  ['rab', 'u8'],
  ['ieee', { bytes: 3 }],
  ['cmic', 'u8'],
  ['mdts', 'u8'],
  ['cntlid', 'u16'],
  ['ver', 'u32'],
  ['rtd3r', 'u32'],
  ['rtd3e', 'u32'],
  ['oaes', 'u32'],
  ['ctratt', 'u32'],
  ['rsvd100', { bytes: 11 }],
  ['cntrltype', 'u8'],
  ['rsvd112', { bytes: 144 }],
  ['oacs', 'u16'],
  ['acl', 'u8'],
  ['aerl', 'u8'],
  ['frmw', 'u8'],
  ['lpa', 'u8'],
  ['elpe', 'u8'],
  ['npss', 'u8'],
  ['avscc', 'u8'],
  ['apsta', 'u8'],
  ['wctemp', 'u16'],
  ['cctemp', 'u16'],
  ['rsvd270', { bytes: 242 }],
  ['sqes', 'u8'],
  ['cqes', 'u8'],
  ['maxcmd', 'u16'],
  ['nn', 'u32'],
  ['oncs', 'u16'],
  ['fuses', 'u16'],
  ['fna', 'u8'],
  ['vwc', 'u8'],
  ['awun', 'u16'],
  ['awupf', 'u16'],
  ['rsvd530', { bytes: 6 }],
  ['sgls', 'u32'],
  ['rsvd540', { bytes: 228 }],
  ['subnqn', { bytes: 256 }],
  ['rsvd1024', { bytes: 1024 }],
  ['psd', { bytes: 1024 }],
  ['vs', { bytes: 1024 }],
] as const, 4096);

/** Identify Namespace (CNS 00h), the fields the guest reads (specs.md §2.11). */
export const IdNs = defineStruct('IdNs', [
  ['nsze', 'u64'],
  ['ncap', 'u64'],
  ['nuse', 'u64'],
  ['nsfeat', 'u8'],
  ['nlbaf', 'u8'],
  ['flbas', 'u8'],
  ['mc', 'u8'],
  ['dpc', 'u8'],
  ['dps', 'u8'],
  ['nmic', 'u8'],
  ['rescap', 'u8'],
  ['fpi', 'u8'],
  ['dlfeat', 'u8'],
  ['rsvd34', { bytes: 14 }],
  ['nvmcap', { bytes: 16 }],
  ['rsvd64', { bytes: 40 }],
  ['nguid', { bytes: 16 }],
  ['eui64', { bytes: 8 }],
  ['lbaf', { bytes: 256 }],
  ['vs', { bytes: 3712 }],
] as const, 4096);

/** SMART / Health log (LID 02h), 512 bytes (specs.md §2.8). 128-bit counters are 16-byte blobs. */
export const SmartLog = defineStruct('SmartLog', [
  ['criticalWarning', 'u8'],
  ['temperature', 'u16'],
  ['availSpare', 'u8'],
  ['spareThresh', 'u8'],
  ['percentUsed', 'u8'],
  ['rsvd6', { bytes: 26 }],
  ['dataUnitsRead', { bytes: 16 }],
  ['dataUnitsWritten', { bytes: 16 }],
  ['hostReads', { bytes: 16 }],
  ['hostWrites', { bytes: 16 }],
  ['ctrlBusyTime', { bytes: 16 }],
  ['powerCycles', { bytes: 16 }],
  ['powerOnHours', { bytes: 16 }],
  ['unsafeShutdowns', { bytes: 16 }],
  ['mediaErrors', { bytes: 16 }],
  ['numErrLogEntries', { bytes: 16 }],
  ['warningTempTime', 'u32'],
  ['criticalCompTime', 'u32'],
  ['tempSensor', { bytes: 16 }],
  ['rsvd216', { bytes: 296 }],
] as const, 512);

/** Dataset Management range, 16 bytes (specs.md §2.9). */
export const DsmRange = defineStruct('DsmRange', [
  ['cattr', 'u32'],
  ['nlb', 'u32'],
  ['slba', 'u64'],
] as const, 16);

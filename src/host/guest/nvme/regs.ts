// Guest driver's view of NVMe (specs.md §2.2–2.11): BAR0 registers, CAP/CC/CSTS fields, SQE/CQE, the Identify and
// SMART structures and opcodes; the driver uses the derived offsets.
import { defineStruct } from '../../../devices/layout.ts';
// The controller's own spec structures are declared once, beside the device model; the driver reads them there.
export { NvmeRegs, Sqe, Cqe, DOORBELL_BASE } from '../../../devices/nvme/regs.ts';
export { IdCtrl, IdNs } from '../../../devices/nvme/identify.ts';
export { SmartLog } from '../../../devices/nvme/log-pages.ts';

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
export const Fid = {
  NUM_QUEUES: 0x07, INTERRUPT_COALESCING: 0x08, INTERRUPT_VECTOR_CONFIG: 0x09, ASYNC_EVENT_CONFIG: 0x0b,
  /** Vendor (nitrolab): Submission Push, CDW11 bit 0 (docs/link-protocol.md §4.1). */
  SUBMISSION_PUSH: 0xc0,
} as const;
/** QUEUE_STATS: vendor (nitrolab) queue statistics log (SQ fetch DMA reads, pushed SQEs, interrupts). */
export const Lid = { ERROR: 0x01, SMART: 0x02, FW_SLOT: 0x03, CHANGED_NS_LIST: 0x04, QUEUE_STATS: 0xc0 } as const;

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

/** Dataset Management range, 16 bytes (specs.md §2.9). */
export const DsmRange = defineStruct('DsmRange', [
  ['cattr', 'u32'],
  ['nlb', 'u32'],
  ['slba', 'u64'],
] as const, 16);

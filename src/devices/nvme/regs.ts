// NVMe controller register block, queue entry layouts and their bit fields (NVMe Base 1.4 §3.1, §4.2, §4.6;
// specs.md §2.2–§2.6). Offsets come from the structures; nothing here is retyped elsewhere.
import { defineStruct, writeU64Number } from '../layout.ts';

/** BAR0 controller registers, 0x00–0x6B (specs.md §2.2). 64-bit registers are accessed as lo/hi u32 halves. */
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
  ['CMBLOC', 'u32'],
  ['CMBSZ', 'u32'],
  ['BPINFO', 'u32'],
  ['BPRSEL', 'u32'],
  ['BPMBL', 'u64'],
  ['CMBMSC', 'u64'],
  ['CMBSTS', 'u32'],
  ['CMBEBS', 'u32'],
  ['CMBSWTP', 'u32'],
  ['NSSD', 'u32'],
  ['CRTO', 'u32'],
] as const, 0x6c);

/** Doorbells start here; SQyTDBL = base + (2y)·(4 << DSTRD), CQyHDBL = base + (2y+1)·(4 << DSTRD). */
export const DOORBELL_BASE = 0x1000;
/** Size of BAR0: registers, doorbells (0x1000–0x1FFF), and the MSI-X table/PBA pages the function model places. */
export const BAR0_SIZE = 0x4000;
/** MSI-X table offset inside BAR0 (PBA at +0x1000), reserved for the PCI function model. */
export const MSIX_TABLE_OFFSET = 0x2000;

/** VS: NVMe 1.4.0. */
export const NVME_VERSION_1_4 = 0x0001_0400;

/** CAP fields (specs.md §2.3). Low dword bits, then high dword bits (shifted as in the hi half). */
export const CAP = {
  MQES_MASK: 0xffff, // 15:0
  CQR: 1 << 16,
  TO_SHIFT: 24, // 31:24, 500 ms units
  // high dword (bits 63:32)
  DSTRD_SHIFT: 0, // 35:32
  NSSRS: 1 << 4, // 36
  CSS_NVM: 1 << 5, // 37
  MPSMIN_SHIFT: 16, // 51:48
  MPSMAX_SHIFT: 20, // 55:52
} as const;

/** CC fields (specs.md §2.3). */
export const CC = {
  EN: 1 << 0,
  CSS_SHIFT: 4, CSS_MASK: 0x7,
  MPS_SHIFT: 7, MPS_MASK: 0xf,
  AMS_SHIFT: 11, AMS_MASK: 0x7,
  SHN_SHIFT: 14, SHN_MASK: 0x3,
  IOSQES_SHIFT: 16, IOSQES_MASK: 0xf,
  IOCQES_SHIFT: 20, IOCQES_MASK: 0xf,
  /** Bits a host may write (EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES). */
  WRITABLE: 0x00ff_fff1,
} as const;

/** CSTS fields. */
export const CSTS = {
  RDY: 1 << 0,
  CFS: 1 << 1,
  SHST_SHIFT: 2, SHST_MASK: 0x3,
  NSSRO: 1 << 4,
  PP: 1 << 5,
} as const;

/** CC.SHN / CSTS.SHST values. */
export const SHN = { NONE: 0, NORMAL: 1, ABRUPT: 2 } as const;
export const SHST = { NORMAL: 0, OCCURRING: 1, COMPLETE: 2 } as const;

/** AQA: ASQS 11:0, ACQS 27:16, both 0-based. */
export const AQA = { ASQS_MASK: 0xfff, ACQS_SHIFT: 16, ACQS_MASK: 0xfff, WRITABLE: 0x0fff_0fff } as const;

/** Required I/O queue entry sizes (log2): SQE 64 B, CQE 16 B. */
export const SQES_LOG2 = 6;
export const CQES_LOG2 = 4;

/** Submission Queue Entry, 64 bytes (specs.md §2.5). */
export const Sqe = defineStruct('NvmeSqe', [
  ['opc', 'u8'],
  ['flags', 'u8'], // FUSE 1:0, PSDT 7:6
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

/** A submission entry as a host driver builds it; unset fields are 0. */
export interface SqeFields {
  opc: number;
  flags?: number;
  nsid?: number;
  prp1?: number;
  prp2?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

/** Host side: encode one SQE at byte `at` of `v` (zeroing the reserved and unset fields first). */
export function writeSqe(v: DataView, at: number, cid: number, f: SqeFields): void {
  const O = Sqe.offset;
  new Uint8Array(v.buffer, v.byteOffset + at, Sqe.size).fill(0);
  v.setUint8(at + O.opc, f.opc);
  v.setUint8(at + O.flags, f.flags ?? 0);
  v.setUint16(at + O.cid, cid, true);
  v.setUint32(at + O.nsid, f.nsid ?? 0, true);
  writeU64Number(v, at + O.prp1, f.prp1 ?? 0);
  writeU64Number(v, at + O.prp2, f.prp2 ?? 0);
  v.setUint32(at + O.cdw10, f.cdw10 ?? 0, true);
  v.setUint32(at + O.cdw11, f.cdw11 ?? 0, true);
  v.setUint32(at + O.cdw12, f.cdw12 ?? 0, true);
  v.setUint32(at + O.cdw13, f.cdw13 ?? 0, true);
  v.setUint32(at + O.cdw14, f.cdw14 ?? 0, true);
  v.setUint32(at + O.cdw15, f.cdw15 ?? 0, true);
}

/** Completion Queue Entry, 16 bytes (specs.md §2.6). */
export const Cqe = defineStruct('NvmeCqe', [
  ['dw0', 'u32'],
  ['dw1', 'u32'],
  ['sqhd', 'u16'],
  ['sqid', 'u16'],
  ['cid', 'u16'],
  ['status', 'u16'], // P 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15
] as const, 16);

/** SQE CDW0 flags byte: PSDT bits 7:6 (00 = PRP). */
export const SQE_PSDT_SHIFT = 6;

/** Admin opcodes (specs.md §2.8). */
export const AdminOpc = {
  DELETE_IO_SQ: 0x00,
  CREATE_IO_SQ: 0x01,
  GET_LOG_PAGE: 0x02,
  DELETE_IO_CQ: 0x04,
  CREATE_IO_CQ: 0x05,
  IDENTIFY: 0x06,
  ABORT: 0x08,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  ASYNC_EVENT_REQUEST: 0x0c,
} as const;

/** NVM I/O opcodes (specs.md §2.9). */
export const IoOpc = {
  FLUSH: 0x00,
  WRITE: 0x01,
  READ: 0x02,
  WRITE_ZEROES: 0x08,
  DATASET_MANAGEMENT: 0x09,
} as const;

/** Feature identifiers (specs.md §2.8). */
export const Fid = {
  ARBITRATION: 0x01,
  POWER_MANAGEMENT: 0x02,
  TEMPERATURE_THRESHOLD: 0x04,
  ERROR_RECOVERY: 0x05,
  VOLATILE_WRITE_CACHE: 0x06,
  NUMBER_OF_QUEUES: 0x07,
  INTERRUPT_COALESCING: 0x08,
  INTERRUPT_VECTOR_CONFIG: 0x09,
  ASYNC_EVENT_CONFIG: 0x0b,
  TIMESTAMP: 0x0e,
  /** Vendor specific (nitrolab): Submission Push. CDW11 bit 0 = the I/O SQs take SQEs pushed with their tail
   *  doorbell (the link's DOORBELL_PUSH); docs/link-protocol.md §4.1. */
  SUBMISSION_PUSH: 0xc0,
} as const;

/** Log page identifiers. */
export const Lid = {
  ERROR_INFO: 0x01,
  SMART: 0x02,
  FIRMWARE_SLOT: 0x03,
  CHANGED_NS_LIST: 0x04,
  EBS_STATS: 0xd0,
  /** Vendor specific (nitrolab): queue statistics — SQ fetch DMA reads, pushed SQEs, interrupts (QueueStatsLog). */
  QUEUE_STATS: 0xc0,
} as const;

/** Identify CNS values implemented. */
export const Cns = { NAMESPACE: 0x00, CONTROLLER: 0x01, ACTIVE_NS_LIST: 0x02, NS_DESCRIPTORS: 0x03 } as const;

/** Async event types (AER DW0 bits 2:0) and the info codes used. */
export const AsyncEventType = { ERROR: 0, SMART: 1, NOTICE: 2 } as const;
export const AsyncErrorInfo = { INVALID_DOORBELL_REGISTER: 0x00, INVALID_DOORBELL_VALUE: 0x01 } as const;
export const AsyncNoticeInfo = { NS_ATTRIBUTE_CHANGED: 0x00 } as const;

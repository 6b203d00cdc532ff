// NVMe completion status catalogue (NVMe Base 1.4 §4.6.1; specs.md §2.6, §2.12).
// A "status field" here is the CQE status halfword without the phase tag: SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14.
// The CQE halfword is `(field << 1) | P`, so e.g. Invalid Opcode + DNR with P=1 is 0x8003.

/** Do Not Retry bit in a status field. */
export const DNR = 0x4000;

const sct = (type: number, code: number): number => (type << 8) | code;

/** Status codes as status fields (without DNR). */
export const Sc = {
  SUCCESS: sct(0, 0x00),
  INVALID_OPCODE: sct(0, 0x01),
  INVALID_FIELD: sct(0, 0x02),
  CID_CONFLICT: sct(0, 0x03),
  DATA_TRANSFER_ERROR: sct(0, 0x04),
  INTERNAL_ERROR: sct(0, 0x06),
  ABORT_REQUESTED: sct(0, 0x07),
  ABORTED_SQ_DELETION: sct(0, 0x08),
  INVALID_NAMESPACE: sct(0, 0x0b),
  COMMAND_SEQUENCE_ERROR: sct(0, 0x0c),
  PRP_OFFSET_INVALID: sct(0, 0x13),
  LBA_OUT_OF_RANGE: sct(0, 0x80),
  CAPACITY_EXCEEDED: sct(0, 0x81),
  NAMESPACE_NOT_READY: sct(0, 0x82),
  COMPLETION_QUEUE_INVALID: sct(1, 0x00),
  INVALID_QUEUE_ID: sct(1, 0x01),
  INVALID_QUEUE_SIZE: sct(1, 0x02),
  ABORT_LIMIT_EXCEEDED: sct(1, 0x03),
  AER_LIMIT_EXCEEDED: sct(1, 0x05),
  INVALID_INTERRUPT_VECTOR: sct(1, 0x08),
  INVALID_LOG_PAGE: sct(1, 0x09),
  INVALID_QUEUE_DELETION: sct(1, 0x0c),
  FEATURE_NOT_SAVEABLE: sct(1, 0x0d),
  WRITE_FAULT: sct(2, 0x80),
  UNRECOVERED_READ_ERROR: sct(2, 0x81),
} as const;

/** Short names for logs and metrics, keyed by status field without DNR. */
const NAMES = new Map<number, string>(Object.entries(Sc).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]));

export function statusName(field: number): string {
  return NAMES.get(field & ~DNR) ?? `sct${(field >> 8) & 7}-sc0x${(field & 0xff).toString(16)}`;
}

/** The CQE status halfword for a status field and phase tag. */
export function status16(field: number, phase: number): number {
  return ((field << 1) | (phase & 1)) & 0xffff;
}

/** Status Code Type of a status field. */
export const statusType = (field: number): number => (field >> 8) & 0x7;
/** Whether the status is a media/data-integrity error (SCT 2), counted in SMART Media Errors. */
export const isMediaError = (field: number): boolean => statusType(field) === 2;

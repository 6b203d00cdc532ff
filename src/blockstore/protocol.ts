// NBD wire protocol constants and structures (specs.md §6, NetworkBlockDevice/nbd doc/proto.md). All integers are
// big-endian. Shared by the block-store server (src/blockstore) and the card's NBD client (src/nitro-card/ebs).
import { defineStruct } from '../devices/layout.ts';

export const NBD_DEFAULT_PORT = 10809;

/** §6.1 magic numbers, as bigint (64-bit) or number (32-bit). */
export const NBD_MAGIC = {
  NBDMAGIC: 0x4e42444d41474943n,
  IHAVEOPT: 0x49484156454f5054n,
  OPT_REPLY: 0x0003e889045565a9n,
  REQUEST: 0x25609513,
  SIMPLE_REPLY: 0x67446698,
  STRUCTURED_REPLY: 0x668e33ef,
} as const;

/** Handshake flags (server, u16) and client flags (u32). */
export const NBD_FLAG = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const NBD_FLAG_C = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;

export const NBD_OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 0x8000_0000;
export const NBD_REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
  ERR_EXT_HEADER_REQD: ERR + 10,
} as const;

/** Reply types with bit 31 set are errors. */
export function isRepError(replyType: number): boolean {
  return replyType >= ERR;
}

export const NBD_INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags (u16), §6.2. */
export const NBD_FLAG_T = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const NBD_CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const NBD_CMD_FLAG = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const;

export const NBD_REPLY_FLAG = { DONE: 1 << 0 } as const;

export const NBD_REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

/** Structured chunk types with bit 15 set are errors (a client may not hard-disconnect on unknown ones). */
export function isChunkError(type: number): boolean {
  return (type & 0x8000) !== 0;
}

/** Error values (Linux errno numbers), §6.3. */
export const NBD_E = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Size limits: strings ≤ 4096 bytes; default maximum payload 32 MiB. */
export const NBD_MAX_STRING = 4096;
export const NBD_DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
export const NBD_DEFAULT_PREFERRED_BLOCK = 4096;

// ---- Wire structures (big-endian). 64-bit fields are 8-byte blobs read with DataView.getBigUint64(off, false). ----

/** Server greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
export const NbdGreeting = defineStruct('NbdGreeting', [
  ['nbdMagic', 'u64be'],
  ['optMagic', 'u64be'],
  ['handshakeFlags', 'u16be'],
] as const, 18);

/** Client option header, followed by `length` bytes of data. */
export const NbdOptionHeader = defineStruct('NbdOptionHeader', [
  ['magic', 'u64be'],
  ['option', 'u32be'],
  ['length', 'u32be'],
] as const, 16);

/** Server option reply header, followed by `length` bytes of data. */
export const NbdOptionReply = defineStruct('NbdOptionReply', [
  ['magic', 'u64be'],
  ['option', 'u32be'],
  ['replyType', 'u32be'],
  ['length', 'u32be'],
] as const, 20);

/** Reply to NBD_OPT_EXPORT_NAME (followed by 124 zero bytes unless NO_ZEROES was agreed). */
export const NbdExportNameReply = defineStruct('NbdExportNameReply', [
  ['size', 'u64be'],
  ['transmissionFlags', 'u16be'],
] as const, 10);
export const NBD_EXPORT_NAME_PAD = 124;

/** NBD_INFO_EXPORT payload inside NBD_REP_INFO. */
export const NbdInfoExport = defineStruct('NbdInfoExport', [
  ['infoType', 'u16be'],
  ['size', 'u64be'],
  ['transmissionFlags', 'u16be'],
] as const, 12);

/** NBD_INFO_BLOCK_SIZE payload inside NBD_REP_INFO. */
export const NbdInfoBlockSize = defineStruct('NbdInfoBlockSize', [
  ['infoType', 'u16be'],
  ['minimum', 'u32be'],
  ['preferred', 'u32be'],
  ['maximum', 'u32be'],
] as const, 14);

/** Transmission request, followed by `length` bytes of data for WRITE. */
export const NbdRequest = defineStruct('NbdRequest', [
  ['magic', 'u32be'],
  ['flags', 'u16be'],
  ['type', 'u16be'],
  ['cookie', 'u64be'],
  ['offset', 'u64be'],
  ['length', 'u32be'],
] as const, 28);

/** Simple reply, followed by read data on a successful READ. */
export const NbdSimpleReply = defineStruct('NbdSimpleReply', [
  ['magic', 'u32be'],
  ['error', 'u32be'],
  ['cookie', 'u64be'],
] as const, 16);

/** Structured reply chunk header, followed by `length` bytes of payload. */
export const NbdStructuredReply = defineStruct('NbdStructuredReply', [
  ['magic', 'u32be'],
  ['flags', 'u16be'],
  ['type', 'u16be'],
  ['cookie', 'u64be'],
  ['length', 'u32be'],
] as const, 20);

/** The spec mnemonic of `value` in one of the tables above ("ERR_UNSUP"), or its number when unknown. */
export function mnemonic(table: Readonly<Record<string, number>>, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return String(value);
}

// NBD message codecs (specs.md §6.2–6.3): build and parse the handshake, option and transmission messages at the
// offsets declared in protocol.ts. Plain functions over Buffers; every integer is big-endian.
import {
  NBD_MAGIC, NBD_MAX_STRING, NbdGreeting, NbdOptionHeader, NbdOptionReply, NbdRequest, NbdSimpleReply,
  NbdStructuredReply,
} from './protocol.ts';

const BE = false;

function view(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(NbdGreeting.size);
  const v = view(b);
  v.setBigUint64(NbdGreeting.offset.nbdMagic, NBD_MAGIC.NBDMAGIC, BE);
  v.setBigUint64(NbdGreeting.offset.optMagic, NBD_MAGIC.IHAVEOPT, BE);
  v.setUint16(NbdGreeting.offset.handshakeFlags, handshakeFlags, BE);
  return b;
}

/** Parse the 18-byte greeting; null when the magics are wrong (not an NBD newstyle server). */
export function decodeGreeting(b: Buffer): { handshakeFlags: number } | null {
  const v = view(b);
  if (v.getBigUint64(NbdGreeting.offset.nbdMagic, BE) !== NBD_MAGIC.NBDMAGIC) return null;
  if (v.getBigUint64(NbdGreeting.offset.optMagic, BE) !== NBD_MAGIC.IHAVEOPT) return null;
  return { handshakeFlags: v.getUint16(NbdGreeting.offset.handshakeFlags, BE) };
}

/** Client option: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(NbdOptionHeader.size + data.length);
  const v = view(b);
  v.setBigUint64(NbdOptionHeader.offset.magic, NBD_MAGIC.IHAVEOPT, BE);
  v.setUint32(NbdOptionHeader.offset.option, option, BE);
  v.setUint32(NbdOptionHeader.offset.length, data.length, BE);
  b.set(data, NbdOptionHeader.size);
  return b;
}

export interface OptionHeader { magicOk: boolean; option: number; length: number }

export function decodeOptionHeader(b: Buffer): OptionHeader {
  const v = view(b);
  return {
    magicOk: v.getBigUint64(NbdOptionHeader.offset.magic, BE) === NBD_MAGIC.IHAVEOPT,
    option: v.getUint32(NbdOptionHeader.offset.option, BE),
    length: v.getUint32(NbdOptionHeader.offset.length, BE),
  };
}

export function encodeOptionReply(option: number, replyType: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(NbdOptionReply.size + data.length);
  const v = view(b);
  v.setBigUint64(NbdOptionReply.offset.magic, NBD_MAGIC.OPT_REPLY, BE);
  v.setUint32(NbdOptionReply.offset.option, option, BE);
  v.setUint32(NbdOptionReply.offset.replyType, replyType, BE);
  v.setUint32(NbdOptionReply.offset.length, data.length, BE);
  b.set(data, NbdOptionReply.size);
  return b;
}

export interface OptionReplyHeader { magicOk: boolean; option: number; replyType: number; length: number }

export function decodeOptionReply(b: Buffer): OptionReplyHeader {
  const v = view(b);
  return {
    magicOk: v.getBigUint64(NbdOptionReply.offset.magic, BE) === NBD_MAGIC.OPT_REPLY,
    option: v.getUint32(NbdOptionReply.offset.option, BE),
    replyType: v.getUint32(NbdOptionReply.offset.replyType, BE),
    length: v.getUint32(NbdOptionReply.offset.length, BE),
  };
}

/** NBD_OPT_INFO / NBD_OPT_GO data: u32 namelen, name, u16 n, u16 info[n]. */
export function encodeInfoRequest(exportName: string, infoTypes: readonly number[]): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * infoTypes.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  let off = 4 + name.length;
  b.writeUInt16BE(infoTypes.length, off);
  off += 2;
  for (const t of infoTypes) { b.writeUInt16BE(t, off); off += 2; }
  return b;
}

/** Parse INFO/GO data; null when the lengths inside do not add up to the option length. */
export function decodeInfoRequest(b: Buffer): { exportName: string; infoTypes: number[] } | null {
  if (b.length < 6) return null;
  const nameLen = b.readUInt32BE(0);
  if (nameLen > NBD_MAX_STRING || 4 + nameLen + 2 > b.length) return null;
  const exportName = b.subarray(4, 4 + nameLen).toString('utf8');
  const n = b.readUInt16BE(4 + nameLen);
  if (b.length !== 4 + nameLen + 2 + 2 * n) return null;
  const infoTypes: number[] = [];
  for (let i = 0; i < n; i++) infoTypes.push(b.readUInt16BE(4 + nameLen + 2 + 2 * i));
  return { exportName, infoTypes };
}

export interface Request { magic: number; flags: number; type: number; cookie: bigint; offset: bigint; length: number }

export function encodeRequest(r: Omit<Request, 'magic'>): Buffer {
  const b = Buffer.alloc(NbdRequest.size);
  const v = view(b);
  v.setUint32(NbdRequest.offset.magic, NBD_MAGIC.REQUEST, BE);
  v.setUint16(NbdRequest.offset.flags, r.flags, BE);
  v.setUint16(NbdRequest.offset.type, r.type, BE);
  v.setBigUint64(NbdRequest.offset.cookie, r.cookie, BE);
  v.setBigUint64(NbdRequest.offset.offset, r.offset, BE);
  v.setUint32(NbdRequest.offset.length, r.length, BE);
  return b;
}

export function decodeRequest(b: Buffer): Request {
  const v = view(b);
  return {
    magic: v.getUint32(NbdRequest.offset.magic, BE),
    flags: v.getUint16(NbdRequest.offset.flags, BE),
    type: v.getUint16(NbdRequest.offset.type, BE),
    cookie: v.getBigUint64(NbdRequest.offset.cookie, BE),
    offset: v.getBigUint64(NbdRequest.offset.offset, BE),
    length: v.getUint32(NbdRequest.offset.length, BE),
  };
}

export function encodeSimpleReply(error: number, cookie: bigint): Buffer {
  const b = Buffer.alloc(NbdSimpleReply.size);
  const v = view(b);
  v.setUint32(NbdSimpleReply.offset.magic, NBD_MAGIC.SIMPLE_REPLY, BE);
  v.setUint32(NbdSimpleReply.offset.error, error, BE);
  v.setBigUint64(NbdSimpleReply.offset.cookie, cookie, BE);
  return b;
}

/** Structured chunk header plus room for `extra` payload bytes the caller fills in after the header. */
export function encodeChunkHeader(flags: number, type: number, cookie: bigint, length: number, extra = 0): Buffer {
  const b = Buffer.alloc(NbdStructuredReply.size + extra);
  const v = view(b);
  v.setUint32(NbdStructuredReply.offset.magic, NBD_MAGIC.STRUCTURED_REPLY, BE);
  v.setUint16(NbdStructuredReply.offset.flags, flags, BE);
  v.setUint16(NbdStructuredReply.offset.type, type, BE);
  v.setBigUint64(NbdStructuredReply.offset.cookie, cookie, BE);
  v.setUint32(NbdStructuredReply.offset.length, length, BE);
  return b;
}

/** Either reply header as the client sees it: the first 4 bytes say which (16-byte simple or 20-byte chunk). */
export interface ReplyHeader {
  kind: 'simple' | 'chunk';
  error: number;
  cookie: bigint;
  flags: number;
  type: number;
  length: number;
}

export function decodeSimpleReply(b: Buffer): ReplyHeader {
  const v = view(b);
  return {
    kind: 'simple',
    error: v.getUint32(NbdSimpleReply.offset.error, BE),
    cookie: v.getBigUint64(NbdSimpleReply.offset.cookie, BE),
    flags: 0, type: 0, length: 0,
  };
}

export function decodeChunkHeader(b: Buffer): ReplyHeader {
  const v = view(b);
  return {
    kind: 'chunk',
    error: 0,
    cookie: v.getBigUint64(NbdStructuredReply.offset.cookie, BE),
    flags: v.getUint16(NbdStructuredReply.offset.flags, BE),
    type: v.getUint16(NbdStructuredReply.offset.type, BE),
    length: v.getUint32(NbdStructuredReply.offset.length, BE),
  };
}

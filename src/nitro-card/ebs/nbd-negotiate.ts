// Client side of the NBD fixed-newstyle handshake (specs.md §6.2): greeting, client flags, STRUCTURED_REPLY when
// wanted, then OPT_GO with an INFO_BLOCK_SIZE request, falling back to EXPORT_NAME when the server lacks GO.
import type { Socket } from 'node:net';
import { BackendError } from '../../devices/nvme/backend.ts';
import type { SocketReader } from '../../blockstore/socket-reader.ts';
import {
  NBD_DEFAULT_MAX_PAYLOAD, NBD_DEFAULT_PREFERRED_BLOCK, NBD_EXPORT_NAME_PAD, NBD_FLAG, NBD_FLAG_C, NBD_INFO, NBD_OPT,
  NBD_REP, NbdExportNameReply, NbdGreeting, NbdInfoBlockSize, NbdInfoExport, NbdOptionReply, isRepError, mnemonic,
} from '../../blockstore/protocol.ts';
import { decodeGreeting, decodeOptionReply, encodeInfoRequest, encodeOption } from '../../blockstore/wire.ts';

/** What the server told us about the export. */
export interface NbdExportParams {
  readonly exportName: string;
  readonly sizeBytes: number;
  /** Transmission flags (NBD_FLAG_T bits). */
  readonly flags: number;
  readonly structuredReplies: boolean;
  readonly minBlock: number;
  readonly preferredBlock: number;
  readonly maxPayload: number;
  /** Which option entered transmission. */
  readonly via: 'go' | 'export-name';
}

/** Option replies larger than this are a protocol error (none we ask for comes close). */
const MAX_REPLY_DATA = 64 * 1024;

function unavailable(message: string): BackendError {
  return new BackendError('unavailable', message);
}

export async function negotiateClient(
  socket: Socket,
  reader: SocketReader,
  exportName: string,
  wantStructured: boolean,
): Promise<NbdExportParams> {
  const greeting = decodeGreeting(await reader.readExact(NbdGreeting.size));
  if (greeting === null) throw unavailable('peer is not an NBD newstyle server (bad greeting magic)');
  if ((greeting.handshakeFlags & NBD_FLAG.FIXED_NEWSTYLE) === 0) throw unavailable('server is not fixed-newstyle');
  const noZeroes = (greeting.handshakeFlags & NBD_FLAG.NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(NBD_FLAG_C.FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C.NO_ZEROES : 0));
  socket.write(clientFlags);

  let structured = false;
  if (wantStructured) {
    socket.write(encodeOption(NBD_OPT.STRUCTURED_REPLY));
    const r = await readOptionReply(reader, NBD_OPT.STRUCTURED_REPLY);
    structured = r.replyType === NBD_REP.ACK;
  }

  socket.write(encodeOption(NBD_OPT.GO, encodeInfoRequest(exportName, [NBD_INFO.BLOCK_SIZE])));
  let size: number | null = null;
  let flags = 0;
  let minBlock = 1;
  let preferredBlock = NBD_DEFAULT_PREFERRED_BLOCK;
  let maxPayload = NBD_DEFAULT_MAX_PAYLOAD;
  for (;;) {
    const r = await readOptionReply(reader, NBD_OPT.GO);
    if (r.replyType === NBD_REP.INFO) {
      if (r.data.length < 2) throw unavailable('NBD_REP_INFO shorter than its type');
      const info = r.data.readUInt16BE(0);
      if (info === NBD_INFO.EXPORT && r.data.length === NbdInfoExport.size) {
        size = u64Number(r.data.readBigUInt64BE(NbdInfoExport.offset.size));
        flags = r.data.readUInt16BE(NbdInfoExport.offset.transmissionFlags);
      } else if (info === NBD_INFO.BLOCK_SIZE && r.data.length === NbdInfoBlockSize.size) {
        minBlock = r.data.readUInt32BE(NbdInfoBlockSize.offset.minimum);
        preferredBlock = r.data.readUInt32BE(NbdInfoBlockSize.offset.preferred);
        maxPayload = r.data.readUInt32BE(NbdInfoBlockSize.offset.maximum);
      }
      continue; // NAME, DESCRIPTION and unknown info types are ignored
    }
    if (r.replyType === NBD_REP.ACK) {
      if (size === null) throw unavailable('server acknowledged GO without NBD_INFO_EXPORT');
      return { exportName, sizeBytes: size, flags, structuredReplies: structured, minBlock, preferredBlock, maxPayload, via: 'go' };
    }
    if (r.replyType === NBD_REP.ERR_UNSUP) break; // an old server: fall back to EXPORT_NAME
    const text = r.data.toString('utf8');
    if (r.replyType === NBD_REP.ERR_UNKNOWN) throw unavailable(`NBD export "${exportName}" does not exist${text ? `: ${text}` : ''}`);
    if (isRepError(r.replyType)) throw unavailable(`NBD_OPT_GO failed with ${mnemonic(NBD_REP, r.replyType)}${text ? `: ${text}` : ''}`);
    throw unavailable(`unexpected reply ${r.replyType} to NBD_OPT_GO`);
  }

  socket.write(encodeOption(NBD_OPT.EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  let reply: Buffer;
  try {
    reply = await reader.readExact(NbdExportNameReply.size + (noZeroes ? 0 : NBD_EXPORT_NAME_PAD));
  } catch {
    throw unavailable(`NBD export "${exportName}" refused (server closed after EXPORT_NAME)`);
  }
  return {
    exportName,
    sizeBytes: u64Number(reply.readBigUInt64BE(NbdExportNameReply.offset.size)),
    flags: reply.readUInt16BE(NbdExportNameReply.offset.transmissionFlags),
    structuredReplies: structured,
    minBlock, preferredBlock, maxPayload,
    via: 'export-name',
  };
}

async function readOptionReply(reader: SocketReader, option: number): Promise<{ replyType: number; data: Buffer }> {
  const h = decodeOptionReply(await reader.readExact(NbdOptionReply.size));
  if (!h.magicOk) throw unavailable('bad option reply magic');
  if (h.option !== option) throw unavailable(`option reply for ${h.option}, expected ${option}`);
  if (h.length > MAX_REPLY_DATA) throw unavailable(`option reply of ${h.length} bytes is too large`);
  const data = Buffer.from(await reader.readExact(h.length));
  return { replyType: h.replyType, data };
}

function u64Number(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw unavailable(`export size ${v} does not fit in 2^53`);
  return Number(v);
}

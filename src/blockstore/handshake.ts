// Server side of the NBD fixed-newstyle handshake (specs.md §6.2): greeting, client flags, then the option haggling
// loop (EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY; NBD_REP_ERR_UNSUP for anything else).
import {
  NBD_EXPORT_NAME_PAD, NBD_FLAG, NBD_FLAG_C, NBD_FLAG_T, NBD_INFO, NBD_MAX_STRING, NBD_OPT, NBD_REP,
  NBD_DEFAULT_PREFERRED_BLOCK, NbdExportNameReply, NbdInfoBlockSize, NbdInfoExport, NbdOptionHeader, mnemonic,
} from './protocol.ts';
import { decodeInfoRequest, decodeOptionHeader, encodeGreeting, encodeOptionReply } from './wire.ts';
import type { Conn, ServerFeatures } from './conn.ts';
import type { ExportFile } from './export-store.ts';

/** What the handshake agreed on; transmission starts right after. */
export interface Negotiated {
  readonly exportFile: ExportFile;
  readonly structured: boolean;
  readonly transmissionFlags: number;
}

/** Option data above this is not read: the connection is closed (no option we know needs more). */
export const MAX_OPTION_DATA = 64 * 1024;
/** A client that haggles longer than this is closed. */
export const MAX_OPTIONS = 1024;

const KNOWN_CLIENT_FLAGS = NBD_FLAG_C.FIXED_NEWSTYLE | NBD_FLAG_C.NO_ZEROES;

/** EBS-like flags (specs.md §6.2): HAS_FLAGS | SEND_FLUSH | SEND_FUA | SEND_TRIM | SEND_WRITE_ZEROES, plus
 * CAN_MULTI_CONN (one file handle is shared by every connection, so a FLUSH anywhere covers all writes) and
 * SEND_DF with structured replies (a READ is always answered with a single chunk). */
export function transmissionFlagsFor(structured: boolean, f: ServerFeatures): number {
  return NBD_FLAG_T.HAS_FLAGS | NBD_FLAG_T.CAN_MULTI_CONN |
    (f.flush ? NBD_FLAG_T.SEND_FLUSH : 0) | (f.fua ? NBD_FLAG_T.SEND_FUA : 0) | (f.trim ? NBD_FLAG_T.SEND_TRIM : 0) |
    (f.writeZeroes ? NBD_FLAG_T.SEND_WRITE_ZEROES : 0) | (structured ? NBD_FLAG_T.SEND_DF : 0);
}

/** Run the handshake; null means the connection ends here (ABORT, protocol violation, unknown EXPORT_NAME). */
export async function negotiate(c: Conn): Promise<Negotiated | null> {
  c.socket.write(encodeGreeting(NBD_FLAG.FIXED_NEWSTYLE | NBD_FLAG.NO_ZEROES));
  const clientFlags = (await c.reader.readExact(4)).readUInt32BE(0);
  if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) {
    c.event('warn', 'nbd.handshake.unknown-client-flags', { clientFlags });
    return null;
  }
  const noZeroes = (clientFlags & NBD_FLAG_C.NO_ZEROES) !== 0;
  let structured = false;
  const reply = (option: number, type: number, data?: Uint8Array): void => {
    c.socket.write(encodeOptionReply(option, type, data));
  };
  const replyError = (option: number, type: number, message: string): void => {
    c.count(`nbd.option.${mnemonic(NBD_REP, type)}`);
    reply(option, type, Buffer.from(message, 'utf8'));
  };

  for (let i = 0; i < MAX_OPTIONS; i++) {
    const h = decodeOptionHeader(await c.reader.readExact(NbdOptionHeader.size));
    if (!h.magicOk) {
      c.event('warn', 'nbd.option.bad-magic', { option: h.option });
      return null;
    }
    if (h.length > MAX_OPTION_DATA) {
      c.event('warn', 'nbd.option.too-big', { option: h.option, length: h.length });
      return null;
    }
    const data = await c.reader.readExact(h.length);
    c.count('nbd.option');
    switch (h.option) {
      case NBD_OPT.EXPORT_NAME: {
        const name = data.toString('utf8');
        const exportFile = c.store.get(name);
        if (exportFile === undefined) {
          // The spec's only answer to a failed EXPORT_NAME is to close the connection.
          c.event('info', 'nbd.export-name.unknown', { exportName: name });
          return null;
        }
        const flags = transmissionFlagsFor(structured, c.features);
        const b = Buffer.alloc(NbdExportNameReply.size + (noZeroes ? 0 : NBD_EXPORT_NAME_PAD));
        b.writeBigUInt64BE(BigInt(exportFile.sizeBytes), NbdExportNameReply.offset.size);
        b.writeUInt16BE(flags, NbdExportNameReply.offset.transmissionFlags);
        c.socket.write(b);
        return { exportFile, structured, transmissionFlags: flags };
      }
      case NBD_OPT.ABORT:
        reply(h.option, NBD_REP.ACK);
        c.event('debug', 'nbd.option.abort');
        return null;
      case NBD_OPT.LIST:
        if (h.length !== 0) { replyError(h.option, NBD_REP.ERR_INVALID, 'NBD_OPT_LIST takes no data'); break; }
        for (const e of c.store.list()) {
          const name = Buffer.from(e.name, 'utf8');
          const d = Buffer.alloc(4 + name.length);
          d.writeUInt32BE(name.length, 0);
          name.copy(d, 4);
          reply(h.option, NBD_REP.SERVER, d);
        }
        reply(h.option, NBD_REP.ACK);
        break;
      case NBD_OPT.INFO:
      case NBD_OPT.GO: {
        if (!c.features.go) { replyError(h.option, NBD_REP.ERR_UNSUP, 'INFO/GO are switched off on this server'); break; }
        const req = decodeInfoRequest(data);
        if (req === null) { replyError(h.option, NBD_REP.ERR_INVALID, 'malformed INFO/GO request'); break; }
        const exportFile = c.store.get(req.exportName);
        if (exportFile === undefined) {
          c.event('info', 'nbd.go.unknown-export', { exportName: req.exportName });
          replyError(h.option, NBD_REP.ERR_UNKNOWN, `export "${req.exportName.slice(0, 256)}" does not exist`);
          break;
        }
        const flags = transmissionFlagsFor(structured, c.features);
        sendInfo(c, h.option, exportFile, flags, req.infoTypes, req.exportName);
        reply(h.option, NBD_REP.ACK);
        if (h.option === NBD_OPT.GO) return { exportFile, structured, transmissionFlags: flags };
        break;
      }
      case NBD_OPT.STRUCTURED_REPLY:
        if (!c.features.structuredReplies) { replyError(h.option, NBD_REP.ERR_UNSUP, 'structured replies are switched off'); break; }
        if (h.length !== 0) { replyError(h.option, NBD_REP.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data'); break; }
        structured = true;
        reply(h.option, NBD_REP.ACK);
        break;
      default:
        // STARTTLS, meta contexts, extended headers and anything unknown: unsupported, keep haggling.
        c.event('debug', 'nbd.option.unsupported', { option: h.option });
        replyError(h.option, NBD_REP.ERR_UNSUP, `option ${h.option} is not supported`);
    }
  }
  c.event('warn', 'nbd.option.too-many', { limit: MAX_OPTIONS });
  return null;
}

/** REP_INFO replies: EXPORT always; NAME and BLOCK_SIZE when asked for. */
function sendInfo(c: Conn, option: number, e: ExportFile, flags: number, asked: number[], name: string): void {
  const exp = Buffer.alloc(NbdInfoExport.size);
  exp.writeUInt16BE(NBD_INFO.EXPORT, NbdInfoExport.offset.infoType);
  exp.writeBigUInt64BE(BigInt(e.sizeBytes), NbdInfoExport.offset.size);
  exp.writeUInt16BE(flags, NbdInfoExport.offset.transmissionFlags);
  c.socket.write(encodeOptionReply(option, NBD_REP.INFO, exp));
  if (asked.includes(NBD_INFO.NAME) && name.length <= NBD_MAX_STRING) {
    const n = Buffer.from(name, 'utf8');
    const d = Buffer.alloc(2 + n.length);
    d.writeUInt16BE(NBD_INFO.NAME, 0);
    n.copy(d, 2);
    c.socket.write(encodeOptionReply(option, NBD_REP.INFO, d));
  }
  if (asked.includes(NBD_INFO.BLOCK_SIZE)) {
    const bs = Buffer.alloc(NbdInfoBlockSize.size);
    bs.writeUInt16BE(NBD_INFO.BLOCK_SIZE, NbdInfoBlockSize.offset.infoType);
    bs.writeUInt32BE(1, NbdInfoBlockSize.offset.minimum);
    bs.writeUInt32BE(NBD_DEFAULT_PREFERRED_BLOCK, NbdInfoBlockSize.offset.preferred);
    bs.writeUInt32BE(c.maxPayload, NbdInfoBlockSize.offset.maximum);
    c.socket.write(encodeOptionReply(option, NBD_REP.INFO, bs));
  }
}

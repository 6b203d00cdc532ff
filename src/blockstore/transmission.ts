// Server side of the NBD transmission phase (specs.md §6.3): read requests, run up to MAX_IN_FLIGHT of them
// concurrently against the export file, and reply (simple or structured) matched by cookie, in completion order.
import { NBD_CMD, NBD_CMD_FLAG, NBD_E, NBD_MAGIC, NBD_REPLY_FLAG, NBD_REPLY_TYPE, NbdRequest, mnemonic } from './protocol.ts';
import { decodeRequest, encodeChunkHeader, encodeSimpleReply, type Request } from './wire.ts';
import type { Conn } from './conn.ts';
import type { Negotiated } from './handshake.ts';

/** Requests processed at once per connection; reading pauses (TCP backpressure) above this. */
export const MAX_IN_FLIGHT = 256;

/** Command flags each command accepts (anything else is NBD_EINVAL). */
const ALLOWED_FLAGS: Readonly<Record<number, number>> = {
  [NBD_CMD.READ]: NBD_CMD_FLAG.DF,
  [NBD_CMD.WRITE]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.FLUSH]: 0,
  [NBD_CMD.TRIM]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.WRITE_ZEROES]: NBD_CMD_FLAG.FUA | NBD_CMD_FLAG.NO_HOLE,
  [NBD_CMD.DISC]: 0,
};

class Failure {
  constructor(readonly errno: number, readonly message: string) {}
}

/** Serve requests until DISC, EOF or a protocol violation; resolves when every accepted request has been replied to. */
export async function serveTransmission(c: Conn, n: Negotiated): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let slotFreed: (() => void) | null = null;
  try {
    for (;;) {
      while (inFlight.size >= MAX_IN_FLIGHT) await new Promise<void>((r) => { slotFreed = r; });
      const req = decodeRequest(await c.reader.readExact(NbdRequest.size));
      if (req.magic !== NBD_MAGIC.REQUEST) {
        c.event('warn', 'nbd.request.bad-magic', { magic: req.magic });
        return;
      }
      if (req.type === NBD_CMD.DISC) {
        c.event('debug', 'nbd.request.disc');
        return;
      }
      let data: Buffer | Failure | null = null;
      if (req.type === NBD_CMD.WRITE) {
        if (req.length > c.maxPayload) {
          await c.reader.skip(req.length); // keep the stream in step, then refuse
          data = new Failure(NBD_E.EINVAL, `write of ${req.length} bytes exceeds the maximum payload ${c.maxPayload}`);
        } else {
          data = await c.reader.readExact(req.length); // a view of received chunks, never reused by the socket
        }
      }
      const p = handle(c, n, req, data).catch((e: unknown) => {
        // Only a bug of ours gets here: report it and drop this connection, keep the server up.
        c.event('error', 'nbd.internal-error', { message: (e as Error).message });
        c.socket.destroy();
      }).finally(() => {
        inFlight.delete(p);
        const r = slotFreed;
        slotFreed = null;
        r?.();
      });
      inFlight.add(p);
    }
  } finally {
    await Promise.allSettled([...inFlight]);
  }
}

async function handle(c: Conn, n: Negotiated, req: Request, data: Buffer | Failure | null): Promise<void> {
  const name = mnemonic(NBD_CMD, req.type);
  c.count(`nbd.cmd.${name}`);
  try {
    if (data instanceof Failure) throw data;
    const allowed = ALLOWED_FLAGS[req.type];
    if (allowed === undefined) throw new Failure(NBD_E.EINVAL, `command ${req.type} is not supported`);
    if ((req.flags & ~allowed) !== 0) throw new Failure(NBD_E.EINVAL, `flags 0x${req.flags.toString(16)} not valid for ${name}`);
    if (!advertised(c, req)) throw new Failure(NBD_E.EINVAL, `${name} (flags 0x${req.flags.toString(16)}) was not advertised`);
    const f = n.exportFile;
    const end = req.offset + BigInt(req.length);
    if (req.type !== NBD_CMD.FLUSH && end > BigInt(f.sizeBytes)) {
      const writeLike = req.type === NBD_CMD.WRITE || req.type === NBD_CMD.WRITE_ZEROES;
      throw new Failure(writeLike ? NBD_E.ENOSPC : NBD_E.EINVAL, `${name} [${req.offset}, ${end}) past the end ${f.sizeBytes}`);
    }
    const offset = Number(req.offset);
    const fua = (req.flags & NBD_CMD_FLAG.FUA) !== 0;
    switch (req.type) {
      case NBD_CMD.READ: {
        if (req.length > c.maxPayload) throw new Failure(NBD_E.EINVAL, `read of ${req.length} bytes exceeds ${c.maxPayload}`);
        const buf = Buffer.allocUnsafe(req.length);
        await io(() => f.read(offset, buf));
        replyRead(c, n, req, buf);
        return;
      }
      case NBD_CMD.WRITE:
        if (data !== null) await io(() => f.write(offset, data));
        break;
      case NBD_CMD.FLUSH:
        await io(() => f.datasync());
        break;
      case NBD_CMD.TRIM: // a hint; the range reads as zeros afterwards anyway (hole or written zeros)
      case NBD_CMD.WRITE_ZEROES: {
        const mayDeallocate = (req.flags & NBD_CMD_FLAG.NO_HOLE) === 0;
        await io(async () => { c.count(`nbd.zero.${await f.zeroRange(offset, req.length, mayDeallocate)}`); });
        break;
      }
      default:
        throw new Failure(NBD_E.EINVAL, `command ${req.type} is not supported`);
    }
    // FUA: on stable storage before the reply (fdatasync of the shared handle).
    if (fua) await io(() => f.datasync());
    c.socket.write(encodeSimpleReply(0, req.cookie));
  } catch (e) {
    if (!(e instanceof Failure)) throw e; // a broken invariant of ours
    c.event(e.errno === NBD_E.EIO ? 'error' : 'debug', `nbd.request.${mnemonic(NBD_E, e.errno)}`, { cmd: name, reason: e.message });
    replyError(c, n, req, e);
  }
}

/** A client must not use a command or FUA the server did not advertise (specs.md §6.3); we refuse it. */
function advertised(c: Conn, req: Request): boolean {
  const f = c.features;
  if ((req.flags & NBD_CMD_FLAG.FUA) !== 0 && !f.fua) return false;
  if (req.type === NBD_CMD.FLUSH) return f.flush;
  if (req.type === NBD_CMD.TRIM) return f.trim;
  if (req.type === NBD_CMD.WRITE_ZEROES) return f.writeZeroes;
  return true;
}

async function io(op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (e) {
    throw new Failure(NBD_E.EIO, (e as Error).message);
  }
}

function replyRead(c: Conn, n: Negotiated, req: Request, buf: Buffer): void {
  if (!n.structured) {
    c.socket.write(encodeSimpleReply(0, req.cookie));
    if (buf.length > 0) c.socket.write(buf);
    return;
  }
  if (buf.length === 0) {
    c.socket.write(encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.NONE, req.cookie, 0));
  } else if (isAllZero(buf)) {
    const h = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.OFFSET_HOLE, req.cookie, 12, 12);
    h.writeBigUInt64BE(req.offset, h.length - 12);
    h.writeUInt32BE(buf.length, h.length - 4);
    c.socket.write(h);
  } else {
    const h = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.OFFSET_DATA, req.cookie, 8 + buf.length, 8);
    h.writeBigUInt64BE(req.offset, h.length - 8);
    c.socket.write(h);
    c.socket.write(buf);
  }
}

function replyError(c: Conn, n: Negotiated, req: Request, e: Failure): void {
  if (!n.structured) {
    c.socket.write(encodeSimpleReply(e.errno, req.cookie));
    return;
  }
  const msg = Buffer.from(e.message.slice(0, 1024), 'utf8');
  const h = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.ERROR, req.cookie, 6 + msg.length, 6 + msg.length);
  const base = h.length - 6 - msg.length;
  h.writeUInt32BE(e.errno, base);
  h.writeUInt16BE(msg.length, base + 4);
  msg.copy(h, base + 6);
  c.socket.write(h);
}

const ZERO_PAGE = Buffer.alloc(4096);

function isAllZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZERO_PAGE.length) {
    const end = Math.min(b.length, off + ZERO_PAGE.length);
    if (b.compare(ZERO_PAGE, 0, end - off, off, end) !== 0) return false;
  }
  return true;
}

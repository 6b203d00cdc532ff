// A byte-level NBD client for the NBD-* cases (specs.md §6): it sends options and requests exactly as written and
// returns raw replies, so refusals and error codes are observed instead of being hidden by a friendly client.
import net from 'node:net';
import { parseNbdUrl, type NbdTarget } from '../nitro-card/ebs/nbd-url.ts';

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const Opt = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, INFO: 6, GO: 7 } as const;
export const Rep = { ACK: 1, SERVER: 2, INFO: 3, ERR_UNSUP: 0x8000_0001, ERR_UNKNOWN: 0x8000_0006 } as const;
export const Cmd = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 } as const;
export const TxFlag = { HAS_FLAGS: 1, READ_ONLY: 2, SEND_FLUSH: 4, SEND_TRIM: 32, SEND_WRITE_ZEROES: 64 } as const;

export class NbdWire {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket, readonly target: NbdTarget) {
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => { this.closed = true; this.wake(); });
  }

  static connect(url: string): Promise<NbdWire> {
    const t = parseNbdUrl(url);
    return new Promise((resolve, reject) => {
      const s = t.transport === 'tcp' ? net.createConnection(t.port, t.host) : net.createConnection(t.socketPath);
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new NbdWire(s, t)); });
    });
  }

  get exportName(): string { return this.target.exportName; }

  async read(n: number, ms: number): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`connection closed with ${this.buf.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n}-byte answer within ${ms} ms`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  write(b: Buffer): void { this.socket.write(b); }

  /** Greeting + client flags (fixed newstyle, no zeroes if offered); returns the handshake flags. */
  async greet(ms: number): Promise<{ magic: bigint; opt: bigint; flags: number }> {
    const g = await this.read(18, ms);
    const flags = g.readUInt16BE(16);
    const cf = Buffer.alloc(4);
    cf.writeUInt32BE(1 | (flags & 2), 0);
    this.write(cf);
    return { magic: g.readBigUInt64BE(0), opt: g.readBigUInt64BE(8), flags };
  }

  sendOption(opt: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(ms: number): Promise<{ magic: bigint; opt: number; type: number; data: Buffer }> {
    const h = await this.read(20, ms);
    const len = h.readUInt32BE(16);
    return { magic: h.readBigUInt64BE(0), opt: h.readUInt32BE(8), type: h.readUInt32BE(12), data: len > 0 ? Buffer.from(await this.read(len, ms)) : Buffer.alloc(0) };
  }

  /** Replies up to and including the final one (ACK or an error). */
  async optionReplies(ms: number): Promise<{ opt: number; type: number; data: Buffer }[]> {
    const out = [];
    for (;;) {
      const r = await this.optionReply(ms);
      out.push(r);
      if (r.type === Rep.ACK || r.type >= 0x8000_0000) return out;
    }
  }

  static infoPayload(name: string): Buffer {
    const n = Buffer.from(name, 'utf8');
    const b = Buffer.alloc(4 + n.length + 2);
    b.writeUInt32BE(n.length, 0);
    n.copy(b, 4);
    return b;
  }

  request(type: number, cookie: bigint, offset: number, length: number, data?: Buffer): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.write(data ? Buffer.concat([h, data]) : h);
  }

  /** A simple reply (no structured replies were negotiated): error and cookie, then `dataLen` bytes on success. */
  async simpleReply(dataLen: number, ms: number): Promise<{ magic: number; error: number; cookie: bigint; data: Buffer }> {
    const h = await this.read(16, ms);
    const error = h.readUInt32BE(4);
    const data = error === 0 && dataLen > 0 ? Buffer.from(await this.read(dataLen, ms)) : Buffer.alloc(0);
    return { magic: h.readUInt32BE(0), error, cookie: h.readBigUInt64BE(8), data };
  }

  async waitClosed(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise<void>((r) => { const t = setTimeout(r, 20); this.waiters.push(() => { clearTimeout(t); r(); }); });
    return this.closed;
  }

  close(): void { this.socket.destroy(); }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }
}

// One NBD connection in the transmission phase (specs.md §6.3), client side: send requests with fresh cookies, read
// simple or structured replies in whatever order they come, and settle each request by cookie. Per-request
// timeouts; when the connection drops, every pending request fails with BackendError('unavailable').
import type { Socket } from 'node:net';
import { BackendError } from '../../devices/nvme/backend.ts';
import type { SocketReader } from '../../blockstore/socket-reader.ts';
import {
  NBD_CMD, NBD_E, NBD_MAGIC, NBD_REPLY_FLAG, NBD_REPLY_TYPE, NbdSimpleReply, NbdStructuredReply, isChunkError, mnemonic,
} from '../../blockstore/protocol.ts';
import { decodeChunkHeader, decodeSimpleReply, encodeRequest } from '../../blockstore/wire.ts';

export interface NbdCommand {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly length: number;
  /** WRITE payload. */
  readonly payload?: Uint8Array | undefined;
  /** READ destination (exactly `length` bytes). */
  readonly dst?: Uint8Array | undefined;
}

interface Pending {
  readonly cmd: NbdCommand;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  /** Timed out: the caller has been answered; the reply is still read (to stay in step) and dropped. */
  abandoned: boolean;
  errno: number;
  message: string;
}

export interface TransportHooks {
  readonly timeoutMs: number;
  count(name: string): void;
  event(level: 'debug' | 'info' | 'warn' | 'error', name: string, detail?: object): void;
  /** Called once when the connection goes down (not after a clean close). */
  onDown(reason: string): void;
}

/** Map an NBD error value to the backend's error kinds. */
export function backendErrorFor(errno: number, what: string, message: string): BackendError {
  const text = `${what} failed: NBD ${mnemonic(NBD_E, errno)}${message ? ` (${message})` : ''}`;
  if (errno === NBD_E.EINVAL || errno === NBD_E.ENOSPC || errno === NBD_E.EOVERFLOW) return new BackendError('range', text);
  if (errno === NBD_E.ESHUTDOWN) return new BackendError('unavailable', text);
  return new BackendError('io', text);
}

export class NbdTransport {
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private downReason: string | null = null;
  private closing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly reader: SocketReader,
    private readonly hooks: TransportHooks,
  ) {
    void this.replyLoop();
  }

  get isDown(): boolean {
    return this.downReason !== null;
  }

  /** Requests sent and not yet answered (timed-out ones included until their reply arrives). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Resolves once every request has been answered or has timed out (or the connection is down). */
  whenIdle(): Promise<void> {
    if (!this.busy() || this.downReason !== null) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private busy(): boolean {
    for (const p of this.pending.values()) if (!p.abandoned) return true;
    return false;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length > 0 && !this.busy()) for (const w of this.idleWaiters.splice(0)) w();
  }

  submit(cmd: NbdCommand): Promise<void> {
    if (this.downReason !== null) {
      return Promise.reject(new BackendError('unavailable', `NBD connection is down: ${this.downReason}`));
    }
    const cookie = this.nextCookie++;
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { cmd, resolve, reject, timer: null, abandoned: false, errno: 0, message: '' };
      if (this.hooks.timeoutMs > 0) {
        p.timer = setTimeout(() => {
          p.timer = null;
          p.abandoned = true;
          this.hooks.count('nbd.client.timeout');
          this.checkIdle();
          reject(new BackendError('timeout', `NBD ${mnemonic(NBD_CMD, cmd.type)} timed out after ${this.hooks.timeoutMs} ms`));
        }, this.hooks.timeoutMs);
      }
      this.pending.set(cookie, p);
      this.socket.write(encodeRequest({ flags: cmd.flags, type: cmd.type, cookie, offset: BigInt(cmd.offset), length: cmd.length }));
      if (cmd.payload !== undefined && cmd.payload.length > 0) this.socket.write(cmd.payload);
    });
  }

  /** Send NBD_CMD_DISC (no reply) and end the stream. Pending requests should be settled first. */
  disconnect(): void {
    if (this.downReason !== null) return;
    this.closing = true;
    this.socket.write(encodeRequest({ flags: 0, type: NBD_CMD.DISC, cookie: 0n, offset: 0n, length: 0 }));
    this.socket.end(() => this.socket.destroy()); // let DISC reach the server before the socket goes
    this.fail('closed by client', false);
  }

  /** Drop the connection now; every pending request fails with 'unavailable'. */
  fail(reason: string, destroy = true): void {
    if (this.downReason !== null) return;
    this.downReason = reason;
    if (destroy) this.socket.destroy();
    const err = new BackendError('unavailable', `NBD connection lost: ${reason}`);
    for (const p of this.pending.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      if (!p.abandoned) p.reject(err);
    }
    this.pending.clear();
    this.checkIdle();
    if (!this.closing) this.hooks.onDown(reason);
  }

  private async replyLoop(): Promise<void> {
    try {
      for (;;) {
        const magicBytes = await this.reader.readExact(4);
        const magic = magicBytes.readUInt32BE(0);
        if (magic === NBD_MAGIC.SIMPLE_REPLY) await this.onSimple(magicBytes);
        else if (magic === NBD_MAGIC.STRUCTURED_REPLY) await this.onChunk(magicBytes);
        else throw new ProtocolError(`bad reply magic 0x${magic.toString(16)}`);
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.hooks.event('warn', 'nbd.client.protocol-error', { reason: e.message });
      this.fail((e as Error).message);
    }
  }

  private take(cookie: bigint): Pending {
    const p = this.pending.get(cookie);
    if (p === undefined) throw new ProtocolError(`reply for unknown cookie ${cookie}`);
    return p;
  }

  private async onSimple(magic: Buffer): Promise<void> {
    const rest = await this.reader.readExact(NbdSimpleReply.size - 4);
    const h = decodeSimpleReply(Buffer.concat([magic, rest]));
    const p = this.take(h.cookie);
    if (p.cmd.type === NBD_CMD.READ && h.error === 0 && p.cmd.length > 0) {
      if (p.abandoned || p.cmd.dst === undefined) await this.reader.skip(p.cmd.length);
      else await this.reader.readInto(p.cmd.dst);
    }
    p.errno = h.error;
    this.settle(h.cookie, p);
  }

  private async onChunk(magic: Buffer): Promise<void> {
    const rest = await this.reader.readExact(NbdStructuredReply.size - 4);
    const h = decodeChunkHeader(Buffer.concat([magic, rest]));
    const p = this.take(h.cookie);
    const { cmd } = p;
    switch (h.type) {
      case NBD_REPLY_TYPE.NONE:
        if (h.length !== 0) throw new ProtocolError('NONE chunk with a payload');
        break;
      case NBD_REPLY_TYPE.OFFSET_DATA: {
        if (cmd.type !== NBD_CMD.READ || h.length < 9) throw new ProtocolError('misplaced or short OFFSET_DATA chunk');
        const rel = this.relative(cmd, (await this.reader.readExact(8)).readBigUInt64BE(0), h.length - 8);
        if (p.abandoned || cmd.dst === undefined) await this.reader.skip(h.length - 8);
        else await this.reader.readInto(cmd.dst.subarray(rel, rel + h.length - 8));
        break;
      }
      case NBD_REPLY_TYPE.OFFSET_HOLE: {
        if (cmd.type !== NBD_CMD.READ || h.length !== 12) throw new ProtocolError('misplaced or malformed OFFSET_HOLE chunk');
        const b = await this.reader.readExact(12);
        const size = b.readUInt32BE(8);
        const rel = this.relative(cmd, b.readBigUInt64BE(0), size);
        if (!p.abandoned) cmd.dst?.fill(0, rel, rel + size);
        break;
      }
      default: {
        if (!isChunkError(h.type)) throw new ProtocolError(`unknown structured reply type ${h.type}`);
        if (h.length < 6) throw new ProtocolError('error chunk shorter than 6 bytes');
        const b = await this.reader.readExact(h.length);
        const msgLen = b.readUInt16BE(4);
        p.errno = b.readUInt32BE(0) || NBD_E.EIO;
        p.message = b.subarray(6, Math.min(b.length, 6 + msgLen)).toString('utf8');
      }
    }
    if ((h.flags & NBD_REPLY_FLAG.DONE) !== 0) this.settle(h.cookie, p);
  }

  /** Position of a chunk inside the request's buffer; outside the request is a protocol error. */
  private relative(cmd: NbdCommand, offset: bigint, length: number): number {
    const rel = Number(offset) - cmd.offset;
    if (rel < 0 || rel + length > cmd.length) throw new ProtocolError(`chunk [${offset}, +${length}) outside the request`);
    return rel;
  }

  private settle(cookie: bigint, p: Pending): void {
    this.pending.delete(cookie);
    this.checkIdle();
    if (p.timer !== null) clearTimeout(p.timer);
    if (p.abandoned) return;
    if (p.errno === 0) p.resolve();
    else {
      this.hooks.count(`nbd.client.error.${mnemonic(NBD_E, p.errno)}`);
      p.reject(backendErrorFor(p.errno, `NBD ${mnemonic(NBD_CMD, p.cmd.type)}`, p.message));
    }
  }
}

class ProtocolError extends Error {}

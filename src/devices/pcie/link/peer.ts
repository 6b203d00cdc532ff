// One end of an emulated PCIe link (docs/link-protocol.md §3–§6): non-posted requests matched to replies by msgId,
// posted frames, in-order request processing, explicit error replies, timeouts, link-down, per-tick write batching.
import type { Clock, DeviceLog, DeviceMetrics } from '../../contract.ts';
import { viewOf } from '../../layout.ts';
import { FrameDecoder, HEADER_SIZE, payloadLength, writeHeader, writePayload, type OversizeFrame, type Payload } from './codec.ts';
import { LinkError, errnoName } from './errors.ts';
import { LinkCmd, LinkErrno, LinkFlag, MAX_DATA_XFER, MAX_PAYLOAD, type Frame } from './messages.ts';
import type { LinkTransport } from './transport.ts';

/** Handles one incoming request or posted frame. Return the reply payload (ignored for posted frames), nothing for an
 *  empty reply, or throw a LinkError for an error reply. Frames are handed over strictly in arrival order, so a
 *  handler's synchronous effects happen in order (a DMA_WRITE lands before the MSIX behind it). A returned promise
 *  does not hold later frames back: its reply goes out when it settles (replies are matched by msgId). */
export type RequestHandler = (frame: Frame, peer: LinkPeer) => Payload | void | Promise<Payload | void>;

export interface LinkPeerOptions {
  name?: string;
  /** Default request timeout (ms). */
  timeoutMs?: number;
  clock?: Pick<Clock, 'setTimer'>;
  log?: DeviceLog;
  metrics?: DeviceMetrics;
  maxPayload?: number;
  /** Runs the peer's own work (decoding and dispatching received bytes, writing batches), so the owner can attribute
   *  its CPU to the wires (src/telemetry/cpu-ledger.ts); handlers may open regions of their own inside. */
  account?: <T>(work: () => T) => T;
}

export interface LinkStats {
  framesIn: number;
  framesOut: number;
  bytesOut: number;
  writes: number;
  errorRepliesSent: number;
  errorRepliesReceived: number;
  timeouts: number;
  unmatchedReplies: number;
  oversize: number;
  protocolErrors: number;
  unknownCommands: number;
  droppedWhileDown: number;
}

interface Pending {
  resolve(f: Frame): void;
  reject(e: LinkError): void;
  cancelTimer(): void;
}

const KNOWN_CMDS: ReadonlySet<number> = new Set(Object.values(LinkCmd));
const SLAB_BYTES = 64 * 1024;
const EMPTY = new Uint8Array(0);
const noop = (): void => {};
export const nullLog: DeviceLog = { debug: noop, info: noop, warn: noop, error: noop };
export const nullMetrics: DeviceMetrics = { inc: noop, observe: noop };
const realClock: Pick<Clock, 'setTimer'> = {
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export class LinkPeer {
  readonly name: string;
  readonly transport: LinkTransport;
  readonly stats: LinkStats = {
    framesIn: 0, framesOut: 0, bytesOut: 0, writes: 0, errorRepliesSent: 0, errorRepliesReceived: 0, timeouts: 0,
    unmatchedReplies: 0, oversize: 0, protocolErrors: 0, unknownCommands: 0, droppedWhileDown: 0,
  };
  /** Largest data count per REGION/DMA transfer, as negotiated by VERSION (max_data_xfer_size). */
  maxDataXfer = MAX_DATA_XFER;
  timeoutMs: number;

  private readonly clock: Pick<Clock, 'setTimer'>;
  private readonly log: DeviceLog;
  private readonly metrics: DeviceMetrics;
  private readonly maxPayload: number;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private handler: RequestHandler | undefined;
  private up = true;
  private downReason = '';
  private readonly downListeners: ((reason: string) => void)[] = [];
  private readonly postedErrorListeners: ((f: Frame) => void)[] = [];
  // Outgoing batch: frames are encoded into a slab and written once per tick.
  private slab = new Uint8Array(SLAB_BYTES);
  private slabView = viewOf(this.slab);
  private slabStart = 0;
  private slabPos = 0;
  private readonly out: Uint8Array[] = [];
  private flushScheduled = false;
  private readonly account: <T>(work: () => T) => T;

  constructor(transport: LinkTransport, opts: LinkPeerOptions = {}) {
    this.transport = transport;
    this.name = opts.name ?? transport.kind;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? nullLog;
    this.metrics = opts.metrics ?? nullMetrics;
    this.maxPayload = opts.maxPayload ?? MAX_PAYLOAD;
    this.decoder = new FrameDecoder({
      frame: (f) => this.onFrame(f),
      oversize: (h) => this.onOversize(h),
      protocolError: (reason) => this.onProtocolError(reason),
    }, this.maxPayload);
    const account = opts.account;
    this.account = account ?? ((work) => work());
    transport.start({
      data: account ? (chunk) => account(() => this.decoder.push(chunk)) : (chunk) => this.decoder.push(chunk),
      down: (reason) => this.teardown(reason),
    });
  }

  get isUp(): boolean { return this.up; }
  get pendingRequests(): number { return this.pending.size; }

  on(event: 'down', cb: (reason: string) => void): this;
  on(event: 'posted-error', cb: (f: Frame) => void): this;
  on(event: 'down' | 'posted-error', cb: ((reason: string) => void) | ((f: Frame) => void)): this {
    if (event === 'down') {
      if (!this.up) queueMicrotask(() => (cb as (r: string) => void)(this.downReason));
      else this.downListeners.push(cb as (r: string) => void);
    } else this.postedErrorListeners.push(cb as (f: Frame) => void);
    return this;
  }

  onRequest(handler: RequestHandler): void { this.handler = handler; }

  /** Send a non-posted request; resolves with the reply frame, rejects with LinkError (ERROR reply, timeout, down). */
  request(cmd: number, fn: number, payload: Payload = EMPTY, opts: { timeoutMs?: number } = {}): Promise<Frame> {
    if (!this.up) return Promise.reject(new LinkError(LinkErrno.ECONNRESET, `link down: ${this.downReason}`));
    if (payloadLength(payload) > this.maxPayload) return Promise.reject(new LinkError(LinkErrno.EMSGSIZE));
    const msgId = this.allocId();
    return new Promise<Frame>((resolve, reject) => {
      const cancelTimer = this.clock.setTimer(opts.timeoutMs ?? this.timeoutMs, () => {
        if (!this.pending.delete(msgId)) return;
        this.stats.timeouts++;
        this.metrics.inc('link.timeouts');
        this.log.warn({ event: 'link.request-timeout', link: this.name, msgId, cmd, fn }, 'link request timed out');
        reject(new LinkError(LinkErrno.ETIMEDOUT, `request 0x${cmd.toString(16)} fn ${fn} timed out`));
      });
      this.pending.set(msgId, { resolve, reject, cancelTimer });
      this.send(msgId, cmd, fn, 0, 0, payload);
    });
  }

  /** Send a posted frame (NO_REPLY): no completion unless it fails (see on('posted-error')). Returns its msgId. */
  post(cmd: number, fn: number, payload: Payload = EMPTY): number {
    if (payloadLength(payload) > this.maxPayload) throw new LinkError(LinkErrno.EMSGSIZE, 'posted frame too large');
    const msgId = this.allocId();
    this.send(msgId, cmd, fn, LinkFlag.NO_REPLY, 0, payload);
    return msgId;
  }

  /** Flush queued frames now, close the transport and fail pending requests. */
  close(reason = 'closed'): void {
    if (!this.up) return;
    this.flush();
    this.transport.close(reason);
    this.teardown(reason);
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffff_ffff ? 1 : id + 1; // msgId 0 is reserved for unsolicited events
    return id;
  }

  // ---- receive -----------------------------------------------------------------------------------------------

  private onFrame(f: Frame): void {
    this.stats.framesIn++;
    if (f.flags & LinkFlag.REPLY) return this.onReply(f);
    if (f.flags & LinkFlag.ERROR) {
      this.log.warn({ event: 'link.malformed-frame', link: this.name, msgId: f.msgId, cmd: f.cmd }, 'ERROR without REPLY');
      return this.replyError(f, LinkErrno.EPROTO);
    }
    if (!KNOWN_CMDS.has(f.cmd)) {
      this.stats.unknownCommands++;
      this.metrics.inc('link.unknown_commands');
      this.log.warn({ event: 'link.unknown-cmd', link: this.name, msgId: f.msgId, cmd: f.cmd, fn: f.fn }, 'unknown command');
      return this.replyError(f, LinkErrno.ENOSYS);
    }
    if (f.cmd === LinkCmd.PING) {
      if (!(f.flags & LinkFlag.NO_REPLY)) this.send(f.msgId, f.cmd, f.fn, LinkFlag.REPLY, 0, EMPTY);
      return;
    }
    this.process(f);
  }

  private onReply(f: Frame): void {
    const p = this.pending.get(f.msgId);
    if (p === undefined) {
      if (f.flags & LinkFlag.ERROR) {
        this.stats.errorRepliesReceived++;
        for (const cb of this.postedErrorListeners) cb(f);
        return;
      }
      this.stats.unmatchedReplies++;
      this.metrics.inc('link.unmatched_replies');
      this.log.warn({ event: 'link.reply-unmatched', link: this.name, msgId: f.msgId, cmd: f.cmd }, 'reply matches no request');
      return;
    }
    this.pending.delete(f.msgId);
    p.cancelTimer();
    if (f.flags & LinkFlag.ERROR) {
      this.stats.errorRepliesReceived++;
      p.reject(new LinkError(f.error, `${errnoName(f.error)} from peer for cmd 0x${f.cmd.toString(16)} fn ${f.fn}`));
    } else p.resolve(f);
  }

  private onOversize(h: OversizeFrame): void {
    this.stats.oversize++;
    this.metrics.inc('link.oversize_frames');
    this.log.warn({ event: 'link.oversize-frame', link: this.name, ...h }, 'frame exceeds MAX_PAYLOAD, skipped');
    if (h.flags & LinkFlag.REPLY) {
      const p = this.pending.get(h.msgId);
      if (p === undefined) return;
      this.pending.delete(h.msgId);
      p.cancelTimer();
      p.reject(new LinkError(LinkErrno.EMSGSIZE, `reply of ${h.size} bytes exceeds MAX_PAYLOAD`));
      return;
    }
    this.send(h.msgId, h.cmd, h.fn, LinkFlag.REPLY | LinkFlag.ERROR, LinkErrno.EMSGSIZE, EMPTY);
    this.stats.errorRepliesSent++;
  }

  private onProtocolError(reason: string): void {
    this.stats.protocolErrors++;
    this.metrics.inc('link.protocol_errors');
    this.log.error({ event: 'link.protocol-error', link: this.name, reason }, 'unframeable stream, closing link');
    this.close(`protocol error: ${reason}`);
  }

  private process(f: Frame): void {
    const handler = this.handler;
    if (handler === undefined) return this.replyError(f, LinkErrno.ENOSYS);
    let r: Payload | void | Promise<Payload | void>;
    try {
      r = handler(f, this);
    } catch (e) {
      return this.fail(f, e);
    }
    if (r instanceof Promise) r.then((v) => this.complete(f, v), (e: unknown) => this.fail(f, e));
    else this.complete(f, r);
  }

  private complete(f: Frame, v: Payload | void): void {
    if (f.flags & LinkFlag.NO_REPLY) return;
    const payload = v ?? EMPTY;
    if (payloadLength(payload) > this.maxPayload) return this.replyError(f, LinkErrno.EMSGSIZE);
    this.send(f.msgId, f.cmd, f.fn, LinkFlag.REPLY, 0, payload);
  }

  private fail(f: Frame, e: unknown): void {
    if (e instanceof LinkError) return this.replyError(f, e.errno);
    this.log.error({ event: 'link.handler-error', link: this.name, msgId: f.msgId, cmd: f.cmd, fn: f.fn, err: String(e) },
      'request handler threw');
    this.metrics.inc('link.handler_errors');
    this.replyError(f, LinkErrno.EIO);
  }

  private replyError(f: Frame, errno: number): void {
    this.stats.errorRepliesSent++;
    this.send(f.msgId, f.cmd, f.fn, LinkFlag.REPLY | LinkFlag.ERROR, errno, EMPTY);
  }

  // ---- send --------------------------------------------------------------------------------------------------

  private send(msgId: number, cmd: number, fn: number, flags: number, error: number, payload: Payload): void {
    if (!this.up) {
      this.stats.droppedWhileDown++;
      return;
    }
    const size = HEADER_SIZE + payloadLength(payload);
    if (size > SLAB_BYTES / 2) {
      this.cutSlab();
      const b = new Uint8Array(size);
      writeHeader(viewOf(b), 0, msgId, cmd, fn, size, flags, error);
      writePayload(b, HEADER_SIZE, payload);
      this.out.push(b);
    } else {
      if (this.slabPos + size > this.slab.byteLength) {
        this.cutSlab();
        this.slab = new Uint8Array(SLAB_BYTES);
        this.slabView = viewOf(this.slab);
        this.slabStart = this.slabPos = 0;
      }
      writeHeader(this.slabView, this.slabPos, msgId, cmd, fn, size, flags, error);
      writePayload(this.slab, this.slabPos + HEADER_SIZE, payload);
      this.slabPos += size;
    }
    this.stats.framesOut++;
    this.stats.bytesOut += size;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.account(() => this.flush()));
    }
  }

  private cutSlab(): void {
    if (this.slabPos > this.slabStart) this.out.push(this.slab.subarray(this.slabStart, this.slabPos));
    this.slabStart = this.slabPos;
  }

  private flush(): void {
    this.flushScheduled = false;
    this.cutSlab();
    if (this.out.length === 0 || !this.up) return;
    this.stats.writes++;
    this.transport.write(this.out);
    this.out.length = 0;
    // A copying transport is done with the bytes: the slab is reused from its start.
    if (this.transport.copiesOnWrite) this.slabStart = this.slabPos = 0;
  }

  private teardown(reason: string): void {
    if (!this.up) return;
    this.up = false;
    this.downReason = reason;
    this.log.info({ event: 'link.down', link: this.name, reason, pending: this.pending.size }, 'link down');
    const err = new LinkError(LinkErrno.ECONNRESET, `link down: ${reason}`);
    for (const p of this.pending.values()) {
      p.cancelTimer();
      p.reject(err);
    }
    this.pending.clear();
    for (const cb of this.downListeners.splice(0)) cb(reason);
  }
}

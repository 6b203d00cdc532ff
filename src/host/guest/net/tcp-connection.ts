// Enough TCP (RFC 9293) for HTTP and request/response: active and passive open, MSS option, a sliding send window
// bounded by the peer's advertised window, in-order receive (out-of-order segments are dropped and re-ACKed),
// retransmission on timeout (RFC 6298 RTO with Karn's rule and backoff, go-back-N from SND.UNA), FIN close in both
// directions, RST in and out. No congestion control, SACK, window scaling or delayed ACKs; TIME_WAIT is checked lazily.
//
//   send buffer:  [SND.UNA ......... SND.NXT ........ SND.UNA + sbuf.length]   (+1 for a queued FIN)
//                  acked ◄──┘ in flight             └─► not yet sent
import { TcpFlag } from '../../../devices/net-wire.ts';
import { Mailbox } from './mailbox.ts';
import type { TcpLayer, TcpListener } from './tcp.ts';

export type TcpState =
  | 'CLOSED' | 'LISTEN' | 'SYN_SENT' | 'SYN_RCVD' | 'ESTABLISHED' | 'FIN_WAIT_1' | 'FIN_WAIT_2'
  | 'CLOSE_WAIT' | 'CLOSING' | 'LAST_ACK' | 'TIME_WAIT';

export class TcpError extends Error {
  constructor(readonly code: 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'EPIPE', message: string) {
    super(message);
    this.name = 'TcpError';
  }
}

export const TCP_MSS_DEFAULT = 536;
export const RCV_BUF = 65535;
export const SND_BUF = 256 * 1024;
export const RTO_INITIAL_MS = 1000;
export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 60_000;
export const MAX_RETRIES = 8;
export const SYN_RETRIES = 5;
export const TIME_WAIT_MS = 2000;
export const OPT_MSS = 2;

const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
const seqSub = (a: number, b: number): number => (a - b) | 0;

export interface Segment {
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly mss: number | undefined;
  readonly data: Uint8Array;
}

export interface TcpEndpoint { readonly ip: number; readonly port: number }

export class TcpConnection {
  state: TcpState = 'CLOSED';
  readonly local: TcpEndpoint;
  readonly remote: TcpEndpoint;
  /** Per-connection counters. */
  readonly stats = { segsOut: 0, segsIn: 0, retransmits: 0, bytesIn: 0, bytesOut: 0, outOfOrder: 0 };
  private readonly layer: TcpLayer;
  private readonly rx: Mailbox<Uint8Array>;
  private readonly established: Promise<void>;
  private settle!: (err?: Error) => void;
  private iss = 0;
  private sndUna = 0;
  private sndNxt = 0;
  private sndWnd = 0;
  private sbuf = new Uint8Array(0);
  private finQueued = false;
  /** Sequence number our FIN took, once sent. */
  private finSeq: number | undefined;
  private irs = 0;
  private rcvNxt = 0;
  private rcvBuffered = 0;
  private lastAdvWnd = RCV_BUF;
  private peerMss = TCP_MSS_DEFAULT;
  private rto = RTO_INITIAL_MS;
  private srtt = 0;
  private rttvar = 0;
  private rttSeq: number | undefined;
  private rttStartNs = 0n;
  private retries = 0;
  private rtoDeadlineNs: bigint | undefined;
  private timerRunning = false;
  private timeWaitUntilNs = 0n;
  private writers: (() => void)[] = [];
  private finAcked: Promise<void>;
  private finAckedResolve!: () => void;
  error: TcpError | undefined;
  /** The listener that accepts this connection, for passive opens. */
  private listener: TcpListener | undefined;

  constructor(layer: TcpLayer, local: TcpEndpoint, remote: TcpEndpoint) {
    this.layer = layer;
    this.local = local;
    this.remote = remote;
    this.rx = new Mailbox<Uint8Array>(layer.stack.sleep.bind(layer.stack));
    this.established = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    this.established.catch(() => {});
    this.finAcked = new Promise<void>((r) => { this.finAckedResolve = r; });
  }

  private get now(): bigint { return this.layer.stack.platform.nowNs(); }
  get mss(): number { return Math.min(this.peerMss, this.layer.localMss(this.remote.ip)); }
  /** Bytes written but not yet acknowledged. */
  get unacked(): number { return this.sbuf.length; }
  get timeWaitExpired(): boolean { return this.state === 'TIME_WAIT' && this.now >= this.timeWaitUntilNs; }

  // ---- opens -----------------------------------------------------------------------------------------------------

  /** Active open: SYN, then wait for ESTABLISHED (or refusal / timeout). */
  connect(): Promise<void> {
    this.iss = this.layer.newIss();
    this.sndUna = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.state = 'SYN_SENT';
    this.layer.stack.counters.tcpActiveOpens++;
    this.sendSyn(false);
    this.armTimer();
    return this.established;
  }

  /** Passive open from a listener's SYN. */
  acceptSyn(l: TcpListener, seg: Segment): void {
    this.listener = l;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.peerMss = seg.mss ?? TCP_MSS_DEFAULT;
    this.sndWnd = seg.window;
    this.iss = this.layer.newIss();
    this.sndUna = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.state = 'SYN_RCVD';
    this.layer.stack.counters.tcpPassiveOpens++;
    this.sendSyn(true);
    this.armTimer();
  }

  private sendSyn(ack: boolean): void {
    this.emit(this.iss, TcpFlag.SYN | (ack ? TcpFlag.ACK : 0), new Uint8Array(0), this.layer.localMss(this.remote.ip));
  }

  // ---- application side ------------------------------------------------------------------------------------------

  /** Queue bytes for sending; waits while the send buffer is full. Rejects once the connection failed or closed. */
  async write(data: Uint8Array): Promise<void> {
    let at = 0;
    while (at < data.length) {
      if (this.error) throw this.error;
      if (this.finQueued || !['ESTABLISHED', 'CLOSE_WAIT'].includes(this.state)) throw new TcpError('EPIPE', 'Broken pipe');
      const room = SND_BUF - this.sbuf.length;
      if (room <= 0) {
        await new Promise<void>((r) => this.writers.push(r));
        continue;
      }
      const n = Math.min(room, data.length - at);
      const next = new Uint8Array(this.sbuf.length + n);
      next.set(this.sbuf);
      next.set(data.subarray(at, at + n), this.sbuf.length);
      this.sbuf = next;
      at += n;
      this.output();
    }
  }

  /** The next chunk of received bytes; null at end of stream, undefined on timeout. Rejects on reset. */
  async read(timeoutMs?: number, signal?: AbortSignal): Promise<Uint8Array | null | undefined> {
    const chunk = await this.rx.take(timeoutMs, signal);
    if (chunk === undefined) {
      if (this.error) throw this.error;
      return this.rx.closed ? null : undefined;
    }
    this.rcvBuffered -= chunk.length;
    this.maybeWindowUpdate();
    return chunk;
  }

  /** Orderly close: FIN after the queued data. Resolves when our FIN is acknowledged (or the connection is gone). */
  close(): Promise<void> {
    if (this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT') {
      this.finQueued = true;
      this.state = this.state === 'ESTABLISHED' ? 'FIN_WAIT_1' : 'LAST_ACK';
      this.output();
    } else if (this.state === 'SYN_SENT' || this.state === 'SYN_RCVD') {
      this.destroy();
    }
    return this.finAcked;
  }

  /** Abortive close: RST and forget. */
  abort(): void {
    if (['SYN_RCVD', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT'].includes(this.state)) {
      this.emit(this.sndNxt, TcpFlag.RST | TcpFlag.ACK, new Uint8Array(0));
      this.layer.stack.counters.tcpOutRsts++;
    }
    this.fail(new TcpError('ECONNRESET', 'Connection aborted'));
  }

  // ---- output ----------------------------------------------------------------------------------------------------

  private rcvWindow(): number { return Math.max(0, RCV_BUF - this.rcvBuffered); }

  private emit(seq: number, flags: number, data: Uint8Array, mss?: number): void {
    const wnd = this.rcvWindow();
    this.lastAdvWnd = wnd;
    this.stats.segsOut++;
    this.layer.emit(this.local, this.remote, seq, flags & TcpFlag.ACK || flags & TcpFlag.RST ? this.rcvNxt : 0, flags, wnd, data, mss);
  }

  private sendAck(): void { this.emit(this.sndNxt, TcpFlag.ACK, new Uint8Array(0)); }

  /** Send what the window allows from SND.NXT, then the FIN if queued and all data is out. */
  private output(): void {
    if (!['ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'LAST_ACK', 'CLOSING'].includes(this.state)) return;
    const dataEnd = seqAdd(this.sndUna, this.sbuf.length);
    for (;;) {
      const inFlight = seqSub(this.sndNxt, this.sndUna);
      const unsent = seqSub(dataEnd, this.sndNxt);
      const wnd = this.sndWnd - inFlight;
      if (unsent > 0) {
        // Zero window: keep one byte in flight as a window probe, retransmitted on the timer.
        const n = Math.min(this.mss, unsent, wnd > 0 ? wnd : inFlight === 0 ? 1 : 0);
        if (n <= 0) break;
        const off = seqSub(this.sndNxt, this.sndUna);
        const last = n === unsent && !this.finQueued;
        this.emit(this.sndNxt, TcpFlag.ACK | (last ? TcpFlag.PSH : 0), this.sbuf.subarray(off, off + n));
        this.stats.bytesOut += n;
        if (this.rttSeq === undefined) {
          this.rttSeq = this.sndNxt;
          this.rttStartNs = this.now;
        }
        this.sndNxt = seqAdd(this.sndNxt, n);
        continue;
      }
      if (this.finQueued && this.sndNxt === dataEnd) {
        this.finSeq = this.sndNxt;
        this.emit(this.sndNxt, TcpFlag.FIN | TcpFlag.ACK, new Uint8Array(0));
        this.sndNxt = seqAdd(this.sndNxt, 1);
      }
      break;
    }
    if (this.sndNxt !== this.sndUna) this.armTimer();
  }

  // ---- retransmission timer --------------------------------------------------------------------------------------

  private armTimer(): void {
    this.rtoDeadlineNs = this.now + BigInt(Math.round(this.rto)) * 1_000_000n;
    if (this.timerRunning) return;
    this.timerRunning = true;
    void this.timerLoop();
  }

  /** One sleeping loop per connection: re-sleeps when the deadline moved, fires when it passed. */
  private async timerLoop(): Promise<void> {
    try {
      for (;;) {
        const d = this.rtoDeadlineNs;
        if (d === undefined || this.state === 'CLOSED' || this.state === 'TIME_WAIT') return;
        const now = this.now;
        if (now < d) {
          await this.layer.stack.sleep(Number(d - now) / 1e6);
          continue;
        }
        this.rtoDeadlineNs = undefined;
        this.onRto();
      }
    } finally {
      this.timerRunning = false;
    }
  }

  private onRto(): void {
    if (this.sndNxt === this.sndUna) return; // nothing outstanding
    const c = this.layer.stack.counters;
    this.retries++;
    const limit = this.state === 'SYN_SENT' || this.state === 'SYN_RCVD' ? SYN_RETRIES : MAX_RETRIES;
    if (this.retries > limit) {
      if (this.state === 'SYN_SENT') c.tcpAttemptFails++;
      else if (this.state !== 'SYN_RCVD') {
        this.emit(this.sndNxt, TcpFlag.RST | TcpFlag.ACK, new Uint8Array(0));
        c.tcpOutRsts++;
      }
      this.fail(new TcpError('ETIMEDOUT', 'Connection timed out'));
      return;
    }
    this.rto = Math.min(RTO_MAX_MS, this.rto * 2);
    this.rttSeq = undefined; // Karn: no samples from retransmitted data
    this.stats.retransmits++;
    c.tcpRetransSegs++;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RCVD') {
      this.sendSyn(this.state === 'SYN_RCVD');
      this.armTimer();
      return;
    }
    this.sndNxt = this.sndUna; // go back N
    this.output();
  }

  private sampleRtt(ack: number): void {
    if (this.rttSeq === undefined || !seqLt(this.rttSeq, ack)) return;
    const r = Number(this.now - this.rttStartNs) / 1e6;
    this.rttSeq = undefined;
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, this.srtt + 4 * this.rttvar));
  }

  // ---- input -----------------------------------------------------------------------------------------------------

  input(seg: Segment): void {
    this.stats.segsIn++;
    const c = this.layer.stack.counters;
    if (this.state === 'CLOSED') return;
    if (this.state === 'SYN_SENT') return this.inputSynSent(seg);
    if (this.state === 'SYN_RCVD' && (seg.flags & TcpFlag.SYN) && !(seg.flags & TcpFlag.ACK) && seg.seq === this.irs) {
      return this.sendSyn(true); // the peer did not see our SYN-ACK
    }
    // Acceptability (RFC 9293 §3.10.7.4), simplified: anything at or before RCV.NXT + window.
    const wnd = this.rcvWindow();
    const segLen = seg.data.length + (seg.flags & TcpFlag.SYN ? 1 : 0) + (seg.flags & TcpFlag.FIN ? 1 : 0);
    const acceptable = segLen === 0
      ? seqLe(this.rcvNxt, seg.seq) && seqLe(seg.seq, seqAdd(this.rcvNxt, Math.max(wnd, 1)))
      : seqLt(seg.seq, seqAdd(this.rcvNxt, Math.max(wnd, 1))) && seqLt(this.rcvNxt, seqAdd(seg.seq, segLen)) || seg.seq === this.rcvNxt;
    if (seg.flags & TcpFlag.RST) {
      if (seg.seq !== this.rcvNxt && !acceptable) return;
      if (this.state === 'SYN_RCVD' && this.listener) return this.destroy();
      c.tcpEstabResets++;
      this.fail(new TcpError('ECONNRESET', 'Connection reset by peer'));
      return;
    }
    if (!acceptable) {
      if (this.state === 'TIME_WAIT' && (seg.flags & TcpFlag.FIN)) this.sendAck();
      else if (!(seg.flags & TcpFlag.RST)) this.sendAck();
      return;
    }
    if (seg.flags & TcpFlag.SYN) {
      this.sendAck(); // challenge ACK
      return;
    }
    if (!(seg.flags & TcpFlag.ACK)) return;
    if (!this.processAck(seg)) return;
    this.processData(seg);
  }

  private inputSynSent(seg: Segment): void {
    const c = this.layer.stack.counters;
    const ackOk = (seg.flags & TcpFlag.ACK) !== 0 && seg.ack === seqAdd(this.iss, 1);
    if ((seg.flags & TcpFlag.ACK) && !ackOk) {
      if (!(seg.flags & TcpFlag.RST)) this.layer.sendReset(this.local, this.remote, seg.ack, 0, false);
      return;
    }
    if (seg.flags & TcpFlag.RST) {
      if (ackOk) {
        c.tcpAttemptFails++;
        this.fail(new TcpError('ECONNREFUSED', 'Connection refused'));
      }
      return;
    }
    if (!(seg.flags & TcpFlag.SYN) || !ackOk) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.peerMss = seg.mss ?? TCP_MSS_DEFAULT;
    this.sndUna = seg.ack;
    this.sndWnd = seg.window;
    this.retries = 0;
    this.rto = RTO_INITIAL_MS;
    this.rtoDeadlineNs = undefined;
    this.state = 'ESTABLISHED';
    this.sendAck();
    this.settle();
  }

  /** ACK field processing; false if the segment must be dropped. */
  private processAck(seg: Segment): boolean {
    if (this.state === 'SYN_RCVD') {
      if (!seqLt(this.sndUna, seg.ack) || seqLt(this.sndNxt, seg.ack)) {
        this.layer.sendReset(this.local, this.remote, seg.ack, 0, false);
        return false;
      }
      this.state = 'ESTABLISHED';
      this.sndUna = seg.ack;
      this.sndWnd = seg.window;
      this.retries = 0;
      this.rto = RTO_INITIAL_MS;
      this.rtoDeadlineNs = undefined;
      this.settle();
      this.listener?.enqueue(this);
      return true;
    }
    if (seqLt(this.sndNxt, seg.ack)) {
      this.sendAck(); // acks something not yet sent
      return false;
    }
    if (seqLt(this.sndUna, seg.ack)) {
      const acked = seqSub(seg.ack, this.sndUna);
      const dataAcked = Math.min(acked, this.sbuf.length);
      this.sbuf = this.sbuf.subarray(dataAcked);
      this.sampleRtt(seg.ack);
      this.sndUna = seg.ack;
      this.retries = 0;
      if (this.srtt > 0) this.rto = Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, this.srtt + 4 * this.rttvar));
      if (this.sndUna === this.sndNxt) this.rtoDeadlineNs = undefined;
      else this.armTimer();
      for (const w of this.writers.splice(0)) w();
      if (this.finSeq !== undefined && seqLt(this.finSeq, seg.ack)) this.onFinAcked();
    }
    this.sndWnd = seg.window;
    this.output();
    return this.state !== 'CLOSED';
  }

  private onFinAcked(): void {
    this.finAckedResolve();
    if (this.state === 'FIN_WAIT_1') this.state = 'FIN_WAIT_2';
    else if (this.state === 'CLOSING') this.enterTimeWait();
    else if (this.state === 'LAST_ACK') this.destroy();
  }

  private processData(seg: Segment): void {
    let data = seg.data;
    let seq = seg.seq;
    if (data.length > 0 && seqLt(seq, this.rcvNxt)) { // overlaps what we have: trim the old part
      const skip = Math.min(seqSub(this.rcvNxt, seq), data.length);
      data = data.subarray(skip);
      seq = seqAdd(seq, skip);
    }
    const receiving = this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2';
    let needAck = false;
    if (data.length > 0) {
      needAck = true;
      if (seq !== this.rcvNxt) {
        this.stats.outOfOrder++;
        this.layer.stack.counters.tcpOutOfOrderDrops++;
        this.sendAck(); // duplicate ACK: tells the sender where we are
        return;
      }
      if (receiving) {
        const n = Math.min(data.length, this.rcvWindow());
        if (n > 0) {
          const chunk = data.slice(0, n);
          this.rcvBuffered += n;
          this.rcvNxt = seqAdd(this.rcvNxt, n);
          this.stats.bytesIn += n;
          this.rx.push(chunk);
        }
        if (n < data.length) {
          this.sendAck();
          return; // the rest (and a FIN behind it) comes again
        }
      }
    }
    if ((seg.flags & TcpFlag.FIN) && seqAdd(seq, data.length) === this.rcvNxt) {
      needAck = true;
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.rx.close();
      if (this.state === 'ESTABLISHED' || this.state === 'SYN_RCVD') this.state = 'CLOSE_WAIT';
      else if (this.state === 'FIN_WAIT_1') this.state = 'CLOSING';
      else if (this.state === 'FIN_WAIT_2') this.enterTimeWait();
    }
    if (needAck) this.sendAck();
  }

  private maybeWindowUpdate(): void {
    const wnd = this.rcvWindow();
    if (!['ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2'].includes(this.state)) return;
    if (wnd - this.lastAdvWnd >= 2 * this.mss || (this.lastAdvWnd < this.mss && wnd >= this.mss)) this.sendAck();
  }

  private enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.rtoDeadlineNs = undefined;
    this.timeWaitUntilNs = this.now + BigInt(TIME_WAIT_MS) * 1_000_000n;
    this.finAckedResolve();
  }

  private fail(err: TcpError): void {
    if (!this.error && this.state !== 'CLOSED') this.error = err;
    this.settle(err);
    this.rx.close(err);
    this.destroy();
  }

  /** Forget the connection (CLOSED). */
  destroy(): void {
    this.state = 'CLOSED';
    this.rtoDeadlineNs = undefined;
    this.rx.close();
    this.settle(this.error ?? new TcpError('ECONNRESET', 'Connection closed'));
    this.finAckedResolve();
    for (const w of this.writers.splice(0)) w();
    this.layer.remove(this);
  }

}

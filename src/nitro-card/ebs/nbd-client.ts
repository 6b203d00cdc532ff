// The EBS card's client to the block store: a BlockBackend over NBD (specs.md §6). Pipelined (many requests in
// flight, matched by cookie), splits requests above the server's maximum payload, uses only the commands the
// server advertises, and fails pending requests with BackendError('unavailable') when the server goes away.
import { connect as netConnect } from 'node:net';
import { BackendError, type BlockBackend } from '../../devices/nvme/backend.ts';
import type { DeviceLog } from '../../devices/contract.ts';
import { SocketReader } from '../../blockstore/socket-reader.ts';
import { NBD_CMD, NBD_CMD_FLAG, NBD_DEFAULT_MAX_PAYLOAD, NBD_FLAG_T } from '../../blockstore/protocol.ts';
import { describeTarget, parseNbdUrl, type NbdTarget } from './nbd-url.ts';
import { negotiateClient, type NbdExportParams } from './nbd-negotiate.ts';
import { NbdTransport, type NbdCommand } from './nbd-transport.ts';

export type { NbdExportParams } from './nbd-negotiate.ts';

export interface NbdClientOptions {
  /** Per-request timeout; 0 disables it. Default 30 s. */
  timeoutMs?: number | undefined;
  /** Connect + handshake timeout. Default 10 s. */
  connectTimeoutMs?: number | undefined;
  /** Requests in flight at once; more wait in FIFO order. Default 128. */
  maxInFlight?: number | undefined;
  /** Ask for structured replies (default true). */
  structuredReplies?: boolean | undefined;
  /** Cap on one READ/WRITE payload, below the server's own maximum. Default 32 MiB. */
  maxRequestBytes?: number | undefined;
  log?: DeviceLog | undefined;
  /** Called when the connection drops unexpectedly (call reconnect() to resume). */
  onDisconnect?: ((reason: string) => void) | undefined;
}

/** TRIM / WRITE_ZEROES carry no payload; split them only to stay inside the u32 length. */
const ZERO_SPLIT = 1 << 30;
const noLog: DeviceLog = { debug() {}, info() {}, warn() {}, error() {} };

export class NbdClient implements BlockBackend {
  private transport: NbdTransport | null = null;
  private exportParams: NbdExportParams | null = null;
  private reconnecting: Promise<void> | null = null;
  private closed = false;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly counters = new Map<string, number>();
  private zeroBuf: Uint8Array | null = null;
  private readonly log: DeviceLog;

  private constructor(readonly target: NbdTarget, private readonly opts: NbdClientOptions) {
    this.log = opts.log ?? noLog;
  }

  /** Connect to `nbd://host[:port]/export` or `nbd+unix:///export?socket=/path` and negotiate. */
  static async connect(url: string, opts: NbdClientOptions = {}): Promise<NbdClient> {
    const c = new NbdClient(parseNbdUrl(url), opts);
    await c.open();
    return c;
  }

  get sizeBytes(): number {
    return this.params.sizeBytes;
  }

  /** What the server advertised at the last (re)connect. */
  get params(): NbdExportParams {
    if (this.exportParams === null) throw new Error('NbdClient used before connect()');
    return this.exportParams;
  }

  get connected(): boolean {
    return this.transport !== null && !this.transport.isDown;
  }

  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.checkRange(offset, dst.length);
    await this.split(offset, dst.length, this.maxPayload(), (off, len) =>
      ({ type: NBD_CMD.READ, flags: 0, offset: off, length: len, dst: dst.subarray(off - offset, off - offset + len) }));
  }

  async write(offset: number, src: Uint8Array, fua: boolean): Promise<void> {
    this.checkRange(offset, src.length);
    this.checkWritable();
    const flags = fua && this.has(NBD_FLAG_T.SEND_FUA) ? NBD_CMD_FLAG.FUA : 0;
    await this.split(offset, src.length, this.maxPayload(), (off, len) =>
      ({ type: NBD_CMD.WRITE, flags, offset: off, length: len, payload: src.subarray(off - offset, off - offset + len) }));
    if (fua && flags === 0) await this.flush();
  }

  /** NBD_CMD_FLUSH; a no-op when the server does not advertise SEND_FLUSH (it has no volatile cache to flush). */
  async flush(): Promise<void> {
    if (!this.has(NBD_FLAG_T.SEND_FLUSH)) { this.count('nbd.client.flush-skipped'); return; }
    await this.issue({ type: NBD_CMD.FLUSH, flags: 0, offset: 0, length: 0 });
  }

  /** WRITE_ZEROES when advertised, else zeros written as ordinary WRITEs. */
  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.checkRange(offset, length);
    this.checkWritable();
    if (!this.has(NBD_FLAG_T.SEND_WRITE_ZEROES)) {
      this.count('nbd.client.write-zeroes-emulated');
      const chunk = Math.min(length, this.maxPayload());
      if (this.zeroBuf === null || this.zeroBuf.length < chunk) this.zeroBuf = new Uint8Array(chunk);
      const zeros = this.zeroBuf;
      await this.split(offset, length, chunk, (off, len) =>
        ({ type: NBD_CMD.WRITE, flags: 0, offset: off, length: len, payload: zeros.subarray(0, len) }));
      if (fua) await this.flush();
      return;
    }
    const flags = fua && this.has(NBD_FLAG_T.SEND_FUA) ? NBD_CMD_FLAG.FUA : 0;
    await this.split(offset, length, ZERO_SPLIT, (off, len) => ({ type: NBD_CMD.WRITE_ZEROES, flags, offset: off, length: len }));
    if (fua && flags === 0) await this.flush();
  }

  /**
   * BlockBackend discard: later reads must return zeros. NBD TRIM leaves the contents undefined, so this is
   * WRITE_ZEROES without NO_HOLE (the server may deallocate), or written zeros when the server lacks it.
   */
  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length, false);
  }

  /** NBD_CMD_TRIM as the hint it is (contents afterwards undefined); skipped when SEND_TRIM is not advertised. */
  async trim(offset: number, length: number): Promise<void> {
    this.checkRange(offset, length);
    this.checkWritable();
    if (!this.has(NBD_FLAG_T.SEND_TRIM)) { this.count('nbd.client.trim-skipped'); return; }
    await this.split(offset, length, ZERO_SPLIT, (off, len) => ({ type: NBD_CMD.TRIM, flags: 0, offset: off, length: len }));
  }

  /** Wait for requests in flight, send NBD_CMD_DISC and close. Later calls fail with 'unavailable'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const t = this.transport;
    if (t !== null) {
      await t.whenIdle();
      t.disconnect();
    }
    for (const w of this.waiting.splice(0)) w();
    this.log.debug({ event: 'nbd.client.closed', target: describeTarget(this.target) });
  }

  /** Drop the current connection (failing what is pending) and negotiate a new one with the same export. */
  reconnect(): Promise<void> {
    if (this.closed) return Promise.reject(new BackendError('unavailable', 'NbdClient is closed'));
    this.reconnecting ??= (async () => {
      this.transport?.disconnect();
      this.transport = null;
      const before = this.exportParams?.sizeBytes;
      await this.open();
      this.count('nbd.client.reconnect');
      if (before !== undefined && before !== this.params.sizeBytes) {
        this.log.warn({ event: 'nbd.client.size-changed', before, after: this.params.sizeBytes });
      }
    })().finally(() => { this.reconnecting = null; });
    return this.reconnecting;
  }

  private async open(): Promise<void> {
    const t = this.target;
    const socket = t.transport === 'tcp' ? netConnect({ host: t.host, port: t.port }) : netConnect({ path: t.socketPath });
    socket.setNoDelay(true);
    const reader = new SocketReader(socket);
    let timedOut = false;
    const ms = this.opts.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(() => { timedOut = true; socket.destroy(); }, ms);
    try {
      this.exportParams = await negotiateClient(socket, reader, t.exportName, this.opts.structuredReplies ?? true);
    } catch (e) {
      socket.destroy();
      this.count('nbd.client.connect-failed');
      if (timedOut) throw new BackendError('timeout', `NBD connect to ${describeTarget(t)} timed out after ${ms} ms`);
      if (e instanceof BackendError) throw e;
      throw new BackendError('unavailable', `NBD connect to ${describeTarget(t)} failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    this.transport = new NbdTransport(socket, reader, {
      timeoutMs: this.opts.timeoutMs ?? 30_000,
      count: (n) => this.count(n),
      event: (level, name, detail) => { this.count(name); this.log[level]({ event: name, ...detail }); },
      onDown: (reason) => {
        this.count('nbd.client.disconnected');
        this.log.warn({ event: 'nbd.client.disconnected', target: describeTarget(t), reason });
        this.opts.onDisconnect?.(reason);
      },
    });
    this.log.info({ event: 'nbd.client.connected', target: describeTarget(t), ...this.exportParams });
  }

  private has(flag: number): boolean {
    return (this.params.flags & flag) !== 0;
  }

  private maxPayload(): number {
    const server = this.params.maxPayload >= this.params.minBlock ? this.params.maxPayload : NBD_DEFAULT_MAX_PAYLOAD;
    return Math.min(server, NBD_DEFAULT_MAX_PAYLOAD, this.opts.maxRequestBytes ?? NBD_DEFAULT_MAX_PAYLOAD);
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
        offset + length > this.sizeBytes) {
      throw new BackendError('range', `[${offset}, +${length}) is outside the ${this.sizeBytes}-byte export`);
    }
  }

  private checkWritable(): void {
    if (this.has(NBD_FLAG_T.READ_ONLY)) throw new BackendError('io', `export "${this.params.exportName}" is read-only`);
  }

  /** Issue [offset, offset+length) as requests of at most `max` bytes, all in flight together. */
  private async split(offset: number, length: number, max: number, make: (off: number, len: number) => NbdCommand): Promise<void> {
    if (length <= max) { await this.issue(make(offset, length)); return; }
    this.count('nbd.client.split');
    const parts: Promise<void>[] = [];
    for (let off = offset; off < offset + length; off += max) parts.push(this.issue(make(off, Math.min(max, offset + length - off))));
    const results = await Promise.allSettled(parts);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  private async issue(cmd: NbdCommand): Promise<void> {
    // A slot is handed straight from a finishing request to the oldest waiter, so the limit is exact.
    if (this.active < (this.opts.maxInFlight ?? 128)) this.active++;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      if (this.closed) throw new BackendError('unavailable', 'NbdClient is closed');
      if (this.reconnecting !== null) await this.reconnecting.catch(() => undefined);
      const t = this.transport;
      if (t === null) throw new BackendError('unavailable', 'NBD connection is down');
      this.count('nbd.client.request');
      await t.submit(cmd);
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }
}

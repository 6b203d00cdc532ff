// The instance metadata service on the card at 169.254.169.254:80 (the VPC's link-local IMDS): just enough TCP
// (RFC 9293: SYN → SYN-ACK, in-order data, ACK, FIN both ways, RST for anything else) to serve one HTTP/1.1 request per
// connection. The HTTP rules (IMDSv2 tokens, httpTokens required, X-Forwarded-For, paths) are in imds-http.ts; here:
// the request head bound (8 KiB → 400 and close), the endpoint switch (disabled → RST), and the IP TTL of a token
// PUT's reply, which is the instance's hop limit. Link-local traffic has its own allowance (1024 pps per ENI, as AWS)
// counted in linklocal_allowance_exceeded. Every refusal is counted (`imds.rejected.<reason>`) and logged, rate-limited.
import { randomBytes, type KeyObject } from 'node:crypto';
import { EtherType, IpProto, TcpFlag, TcpHdr, internetChecksum, pseudoHeaderSum } from '../../devices/net-wire.ts';
import type { DeviceLog, DeviceMetrics } from '../../devices/contract.ts';
import { limitDeviceLog } from '../log-limiter.ts';
import type { Eni } from './eni.ts';
import { ethFrame, ipv4Packet } from './frames.ts';
import type { LinkLocalService } from './dataplane.ts';
import type { Ipv4Info } from './packet.ts';
import { TokenBucket } from './token-bucket.ts';
import { httpText, ImdsResponder, parseRequestHead, type ImdsRejectReason, type ImdsReply } from './imds-http.ts';
import type { ImdsInstance } from './imds-metadata.ts';

export const IMDS_ADDR = 0xa9fea9fe; // 169.254.169.254
const MSS = 1460;
/** The largest request head (request line + header fields) IMDS reads; more is refused with 400. */
export const MAX_REQUEST_HEAD = 8192;
/** IP TTL of everything but a token PUT's reply. */
const DEFAULT_TTL = 64;
/** Open connections per ENI (EC2 limits concurrent IMDS connections per instance); more SYNs get a reset. */
export const MAX_CONNS_PER_ENI = 64;
/** A connection idle this long may be dropped to make room for a new one. */
const IDLE_MS = 30_000;

interface Conn { ourSeq: number; theirNext: number; buf: string; answered: boolean; finSent: boolean; peerMss: number; ttl: number; lastMs: number }

export interface ImdsServiceOptions {
  gatewayMac: Uint8Array;
  /** The instance behind an ENI (its launch request and metadata options); undefined = unknown. */
  lookup(instanceId: string): ImdsInstance | undefined;
  /** The card identity key, which signs the instance identity document. */
  signingKey?: KeyObject | undefined;
  nowMs?: () => number;
  log?: DeviceLog;
  /** The card's counters (CardMetrics.scoped('imds')). */
  metrics?: DeviceMetrics;
}

const noLog: DeviceLog = { debug() {}, info() {}, warn() {}, error() {} };

export class ImdsService implements LinkLocalService {
  readonly ip = IMDS_ADDR;
  /** requests, responses by status, `rejected.<reason>`: also served at GET /mgmt/v1/imds. */
  readonly counters: Record<string, number> = {};
  readonly responder: ImdsResponder;
  private readonly conns = new Map<string, Conn>();
  private readonly allowance = new Map<string, TokenBucket>();
  private readonly nowMs: () => number;
  private readonly log: DeviceLog;

  constructor(private readonly o: ImdsServiceOptions) {
    this.nowMs = o.nowMs ?? Date.now;
    this.log = limitDeviceLog(o.log ?? noLog, undefined, this.nowMs);
    this.responder = new ImdsResponder({ nowMs: this.nowMs, signingKey: o.signingKey });
  }

  handle(req: { eni: Eni; frame: Uint8Array; ip: Ipv4Info; reply(frame: Uint8Array): void }): void {
    const { eni, frame, ip } = req;
    let bucket = this.allowance.get(eni.config.eniId);
    if (!bucket) this.allowance.set(eni.config.eniId, (bucket = new TokenBucket({ size: 1024, oneTimeBurst: 0, refillTimeMs: 1000 }, BigInt(this.nowMs()) * 1_000_000n)));
    if (!bucket.consume(1, BigInt(this.nowMs()) * 1_000_000n)) { eni.counters.linklocal_allowance_exceeded++; return eni.drop('linklocal-allowance'); }
    if (ip.proto !== IpProto.TCP || ip.dstPort !== 80) return eni.drop('imds-not-tcp-80');
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const T = TcpHdr.offset;
    const seq = v.getUint32(ip.l4Off + T.seq);
    const hlen = (v.getUint8(ip.l4Off + T.data_offset) >> 4) * 4;
    const payload = frame.subarray(ip.l4Off + hlen, 14 + ip.totalLength);
    const key = `${eni.config.eniId}|${ip.srcPort}`;
    const f = ip.tcpFlags;
    const c0 = this.conns.get(key);
    const send = (s: number, a: number, flags: number, data: Uint8Array = new Uint8Array(0)) =>
      req.reply(this.segment(eni, ip.srcPort, s, a, flags, data, this.conns.get(key)?.ttl ?? DEFAULT_TTL));
    if (f & TcpFlag.RST) { this.conns.delete(key); return; }
    if (c0) c0.lastMs = this.nowMs();
    if (f & TcpFlag.SYN) {
      const inst = this.o.lookup(eni.config.instanceId);
      if (!inst || inst.options.httpEndpoint === 'disabled') {
        // The endpoint is off (EC2: "you cannot access your instance metadata"): refuse the connection.
        this.refused(eni, inst ? 'endpoint-disabled' : 'unknown-instance', inst ? 'httpEndpoint is disabled' : 'no instance for this ENI');
        return send(0, (seq + 1) >>> 0, TcpFlag.RST | TcpFlag.ACK);
      }
      if (!c0 && !this.roomFor(eni.config.eniId)) {
        this.refused(eni, 'too-many-connections', `${MAX_CONNS_PER_ENI} connections open`);
        return send(0, (seq + 1) >>> 0, TcpFlag.RST | TcpFlag.ACK);
      }
      const isn = randomBytes(4).readUInt32BE(0);
      const c: Conn = { ourSeq: (isn + 1) >>> 0, theirNext: (seq + 1) >>> 0, buf: '', answered: false, finSent: false, peerMss: mssOption(frame, ip.l4Off, hlen) ?? 536, ttl: DEFAULT_TTL, lastMs: this.nowMs() };
      this.conns.set(key, c);
      return send(isn, c.theirNext, TcpFlag.SYN | TcpFlag.ACK);
    }
    const c = c0;
    if (!c) return send(v.getUint32(ip.l4Off + T.ack), (seq + payload.length) >>> 0, TcpFlag.RST | TcpFlag.ACK);
    if (payload.length > 0) {
      if (seq !== c.theirNext) return send(c.ourSeq, c.theirNext, TcpFlag.ACK); // out of order: re-ACK what we have
      c.theirNext = (c.theirNext + payload.length) >>> 0;
      if (!c.answered) c.buf += Buffer.from(payload).toString('latin1');
      const end = c.answered ? -1 : c.buf.indexOf('\r\n\r\n');
      if (!c.answered && (end > MAX_REQUEST_HEAD || (end < 0 && c.buf.length > MAX_REQUEST_HEAD))) {
        this.reply(eni, c, send, { status: 400, body: `request head over ${MAX_REQUEST_HEAD} bytes\n`, reject: 'oversize-header', detail: `request head over ${MAX_REQUEST_HEAD} bytes` }, false);
      } else if (end >= 0) {
        const parsed = parseRequestHead(c.buf.slice(0, end));
        const inst = this.o.lookup(eni.config.instanceId);
        const r: ImdsReply = !parsed.ok ? { status: 400, body: 'malformed HTTP request\n', reject: 'malformed-request', detail: parsed.detail }
          : inst ? this.responder.answer(parsed.req, inst, eni.config) : { status: 404, body: '', reject: 'unknown-instance', detail: 'no instance for this ENI' };
        this.reply(eni, c, send, r, parsed.ok && parsed.req.method === 'HEAD');
      } else {
        send(c.ourSeq, c.theirNext, TcpFlag.ACK);
      }
    }
    if (f & TcpFlag.FIN) {
      c.theirNext = (c.theirNext + 1) >>> 0;
      if (!c.finSent) { send(c.ourSeq, c.theirNext, TcpFlag.FIN | TcpFlag.ACK); c.ourSeq = (c.ourSeq + 1) >>> 0; c.finSent = true; }
      else send(c.ourSeq, c.theirNext, TcpFlag.ACK);
      this.conns.delete(key);
    }
  }

  /** Whether `eniId` may open another connection, after dropping its connections idle for IDLE_MS. */
  private roomFor(eniId: string): boolean {
    const prefix = `${eniId}|`;
    const mine = [...this.conns.entries()].filter(([k]) => k.startsWith(prefix));
    if (mine.length < MAX_CONNS_PER_ENI) return true;
    const now = this.nowMs();
    for (const [k, c] of mine) if (now - c.lastMs >= IDLE_MS) this.conns.delete(k);
    return [...this.conns.keys()].filter((k) => k.startsWith(prefix)).length < MAX_CONNS_PER_ENI;
  }

  /** Send the reply in MSS-sized segments (at the reply's TTL), then FIN: one request per connection. */
  private reply(eni: Eni, c: Conn, send: (s: number, a: number, flags: number, data?: Uint8Array) => void, r: ImdsReply, head: boolean): void {
    c.answered = true;
    c.buf = '';
    if (r.ttl !== undefined) c.ttl = r.ttl;
    this.count('requests');
    this.count(`status.${r.status}`);
    if (r.reject) this.refused(eni, r.reject, r.detail ?? '');
    const body = Buffer.from(httpText(r, head), 'utf8');
    const mss = Math.min(MSS, c.peerMss);
    for (let at = 0; at < body.length; at += mss) {
      const chunk = body.subarray(at, at + mss);
      send(c.ourSeq, c.theirNext, TcpFlag.ACK | TcpFlag.PSH, chunk);
      c.ourSeq = (c.ourSeq + chunk.length) >>> 0;
    }
    send(c.ourSeq, c.theirNext, TcpFlag.FIN | TcpFlag.ACK);
    c.ourSeq = (c.ourSeq + 1) >>> 0;
    c.finSent = true;
  }

  private refused(eni: Eni, reason: ImdsRejectReason, detail: string): void {
    this.count(`rejected.${reason}`);
    this.log.warn({ event: 'imds-rejected', reason, instanceId: eni.config.instanceId, eniId: eni.config.eniId, detail }, `IMDS refused a request from ${eni.config.instanceId}: ${reason} (${detail})`);
  }

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
    this.o.metrics?.inc(name);
  }

  private segment(eni: Eni, dstPort: number, seq: number, ack: number, flags: number, data: Uint8Array, ttl: number): Uint8Array {
    const t = new Uint8Array(TcpHdr.size + data.length);
    const v = new DataView(t.buffer);
    const T = TcpHdr.offset;
    v.setUint16(T.src_port, 80);
    v.setUint16(T.dst_port, dstPort);
    v.setUint32(T.seq, seq >>> 0);
    v.setUint32(T.ack, ack >>> 0);
    v.setUint8(T.data_offset, (TcpHdr.size / 4) << 4);
    v.setUint8(T.flags, flags);
    v.setUint16(T.window, 65535);
    t.set(data, TcpHdr.size);
    v.setUint16(T.checksum, internetChecksum(t, 0, t.length, pseudoHeaderSum(IMDS_ADDR, eni.ip, IpProto.TCP, t.length)));
    return ethFrame(eni.mac, this.o.gatewayMac, EtherType.IPV4, ipv4Packet({ src: IMDS_ADDR, dst: eni.ip, proto: IpProto.TCP, ttl }, t));
  }
}

/** The MSS option (kind 2) of a SYN, if present. */
function mssOption(f: Uint8Array, l4Off: number, hlen: number): number | undefined {
  for (let at = l4Off + TcpHdr.size; at < l4Off + hlen;) {
    const kind = f[at]!;
    if (kind === 0) return undefined;
    if (kind === 1) { at++; continue; }
    const len = f[at + 1] ?? 0;
    if (len < 2) return undefined;
    if (kind === 2 && len === 4) return ((f[at + 2]! << 8) | f[at + 3]!) >>> 0;
    at += len;
  }
  return undefined;
}

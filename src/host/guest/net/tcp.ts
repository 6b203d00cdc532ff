// TCP demultiplexing for the guest stack: listeners, active opens with ephemeral ports, segment parsing and checksum
// checks, RST for segments that match nothing (RFC 9293 §3.10.7.1), and segment output. The per-connection state
// machine (send window, retransmission, close) is tcp-connection.ts.
import { IpProto, TcpFlag, TcpHdr } from '../../../devices/net-wire.ts';
import { Mailbox } from './mailbox.ts';
import { dv } from './packet.ts';
import type { IpDatagram, NetStack } from './stack.ts';
import { EPHEMERAL_FIRST, EPHEMERAL_LAST } from './udp.ts';
import { OPT_MSS, seqAdd, TCP_MSS_DEFAULT, TcpConnection, TcpError, type Segment, type TcpEndpoint } from './tcp-connection.ts';

export * from './tcp-connection.ts';

export class TcpListener {
  readonly queue: Mailbox<TcpConnection>;
  constructor(private readonly layer: TcpLayer, readonly port: number, readonly backlog: number) {
    this.queue = new Mailbox(layer.stack.sleep.bind(layer.stack), backlog);
  }
  enqueue(c: TcpConnection): void {
    if (!this.queue.push(c)) c.abort();
  }
  /** The next established connection; undefined on timeout or abort. */
  accept(timeoutMs?: number, signal?: AbortSignal): Promise<TcpConnection | undefined> {
    return this.queue.take(timeoutMs, signal);
  }
  close(): void {
    this.queue.close();
    this.layer.unlisten(this);
  }
}

const key = (lp: number, rip: number, rp: number): string => `${lp}:${rip}:${rp}`;

export class TcpLayer {
  private readonly conns = new Map<string, TcpConnection>();
  private readonly listeners = new Map<number, TcpListener>();
  private nextEphemeral = EPHEMERAL_FIRST + 7919;
  constructor(readonly stack: NetStack) {}

  newIss(): number { return Math.floor(Math.random() * 0x1_0000_0000) >>> 0; }

  /** Our MSS toward `ip`: the outgoing interface MTU − 40. */
  localMss(ip: number): number {
    const r = this.stack.route(ip);
    return Math.max(TCP_MSS_DEFAULT, (r?.iface.mtu ?? 1500) > 65535 ? 65495 : (r?.iface.mtu ?? 1500) - 40);
  }

  connections(): TcpConnection[] { return [...this.conns.values()]; }

  /** Active open to ip:port. Rejects with TcpError (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH). */
  async connect(ip: number, port: number): Promise<TcpConnection> {
    const r = this.stack.route(ip);
    if (!r || r.src === 0) throw new TcpError('EHOSTUNREACH', 'Network is unreachable');
    let lp = 0;
    for (let i = 0; i <= EPHEMERAL_LAST - EPHEMERAL_FIRST; i++) {
      const cand = this.nextEphemeral;
      this.nextEphemeral = cand >= EPHEMERAL_LAST ? EPHEMERAL_FIRST : cand + 1;
      const old = this.conns.get(key(cand, ip, port));
      if (old?.timeWaitExpired) this.conns.delete(key(cand, ip, port));
      if (!this.conns.has(key(cand, ip, port)) && !this.listeners.has(cand)) { lp = cand; break; }
    }
    if (lp === 0) throw new Error('no free ephemeral TCP port');
    const c = new TcpConnection(this, { ip: r.src, port: lp }, { ip, port });
    this.conns.set(key(lp, ip, port), c);
    await c.connect();
    return c;
  }

  listen(port: number, backlog = 16): TcpListener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`TCP port ${port} out of range`);
    if (this.listeners.has(port)) throw new Error(`bind: Address already in use (tcp port ${port})`);
    const l = new TcpListener(this, port, backlog);
    this.listeners.set(port, l);
    return l;
  }

  unlisten(l: TcpListener): void {
    if (this.listeners.get(l.port) === l) this.listeners.delete(l.port);
  }

  remove(c: TcpConnection): void {
    const k = key(c.local.port, c.remote.ip, c.remote.port);
    if (this.conns.get(k) === c) this.conns.delete(k);
  }

  emit(local: TcpEndpoint, remote: TcpEndpoint, seq: number, ack: number, flags: number, window: number, data: Uint8Array, mss?: number): void {
    const optLen = mss !== undefined ? 4 : 0;
    const hlen = TcpHdr.size + optLen;
    const seg = new Uint8Array(hlen + data.length);
    const v = dv(seg);
    const T = TcpHdr.offset;
    v.setUint16(T.src_port, local.port);
    v.setUint16(T.dst_port, remote.port);
    v.setUint32(T.seq, seq >>> 0);
    v.setUint32(T.ack, ack >>> 0);
    v.setUint8(T.data_offset, (hlen / 4) << 4);
    v.setUint8(T.flags, flags);
    v.setUint16(T.window, Math.min(0xffff, window));
    if (mss !== undefined) {
      v.setUint8(TcpHdr.size, OPT_MSS);
      v.setUint8(TcpHdr.size + 1, 4);
      v.setUint16(TcpHdr.size + 2, mss);
    }
    seg.set(data, hlen);
    this.stack.counters.tcpOutSegs++;
    this.stack.sendIpv4(remote.ip, IpProto.TCP, seg, { src: local.ip, csumAt: T.checksum });
  }

  sendReset(local: TcpEndpoint, remote: TcpEndpoint, seq: number, ack: number, withAck: boolean): void {
    this.stack.counters.tcpOutRsts++;
    this.emit(local, remote, seq, ack, TcpFlag.RST | (withAck ? TcpFlag.ACK : 0), 0, new Uint8Array(0));
  }

  input(d: { src: number; dst: number; payload: Uint8Array; csumValid: boolean; iface: unknown; ttl: number; protocol: number }): void {
    const c = this.stack.counters;
    const p = d.payload;
    c.tcpInSegs++;
    if (p.length < TcpHdr.size) {
      c.tcpInErrs++;
      return;
    }
    const v = dv(p);
    const T = TcpHdr.offset;
    const hlen = (v.getUint8(T.data_offset) >> 4) * 4;
    if (hlen < TcpHdr.size || hlen > p.length) {
      c.tcpInErrs++;
      return;
    }
    if (!this.stack.l4ChecksumOk(d as IpDatagram)) {
      c.tcpInCsumErrors++;
      c.tcpInErrs++;
      return;
    }
    const seg: Segment = {
      seq: v.getUint32(T.seq), ack: v.getUint32(T.ack), flags: v.getUint8(T.flags), window: v.getUint16(T.window),
      mss: parseMss(p, hlen), data: p.subarray(hlen),
    };
    const sport = v.getUint16(T.src_port);
    const dport = v.getUint16(T.dst_port);
    const k = key(dport, d.src, sport);
    let conn = this.conns.get(k);
    if (conn?.timeWaitExpired) {
      this.conns.delete(k);
      conn = undefined;
    }
    if (conn) return conn.input(seg);
    const l = this.listeners.get(dport);
    if (l && (seg.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN) {
      const nc = new TcpConnection(this, { ip: d.dst, port: dport }, { ip: d.src, port: sport });
      this.conns.set(k, nc);
      nc.acceptSyn(l, seg);
      return;
    }
    // No connection: answer with RST (RFC 9293 §3.10.7.1), never to a RST.
    if (seg.flags & TcpFlag.RST) return;
    const local = { ip: d.dst, port: dport };
    const remote = { ip: d.src, port: sport };
    if (seg.flags & TcpFlag.ACK) this.sendReset(local, remote, seg.ack, 0, false);
    else {
      const len = seg.data.length + (seg.flags & TcpFlag.SYN ? 1 : 0) + (seg.flags & TcpFlag.FIN ? 1 : 0);
      this.sendReset(local, remote, 0, seqAdd(seg.seq, len), true);
    }
  }
}

function parseMss(p: Uint8Array, hlen: number): number | undefined {
  for (let i = TcpHdr.size; i < hlen;) {
    const kind = p[i] ?? 0;
    if (kind === 0) break;
    if (kind === 1) { i++; continue; }
    const len = p[i + 1] ?? 0;
    if (len < 2) break;
    if (kind === OPT_MSS && len === 4 && i + 4 <= hlen) return ((p[i + 2] ?? 0) << 8) | (p[i + 3] ?? 0);
    i += len;
  }
  return undefined;
}

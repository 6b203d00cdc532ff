// UDP (RFC 768) sockets: bind (a port, or an ephemeral one), sendto, recv with a timeout; checksums verified on input
// (unless the device vouched for them) and filled or offloaded on output. Full receive queues drop and count.
import { IpProto, UdpHdr } from '../../../devices/net-wire.ts';
import { Mailbox } from './mailbox.ts';
import { dv } from './packet.ts';
import type { IpDatagram, NetInterface, NetStack } from './stack.ts';

export interface UdpDatagram {
  readonly src: number;
  readonly srcPort: number;
  readonly dst: number;
  readonly data: Uint8Array;
}

export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;
/** Datagrams a socket queues before dropping (SO_RCVBUF, in packets). */
export const UDP_RCVQ = 4096;

export class UdpSocket {
  readonly queue: Mailbox<UdpDatagram>;
  private closed = false;
  constructor(private readonly layer: UdpLayer, readonly port: number, readonly localIp: number) {
    this.queue = new Mailbox(layer.stack.sleep.bind(layer.stack), UDP_RCVQ);
  }

  /** Send one datagram; false when it could not be sent (no route, too large). */
  sendto(dst: number, dstPort: number, data: Uint8Array, opts: { src?: number; iface?: NetInterface } = {}): boolean {
    if (this.closed) throw new Error('socket is closed');
    return this.layer.output(this.port, dst, dstPort, data, { src: opts.src ?? (this.localIp || undefined), iface: opts.iface });
  }

  recv(timeoutMs?: number, signal?: AbortSignal): Promise<UdpDatagram | undefined> {
    return this.queue.take(timeoutMs, signal);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    this.layer.release(this);
  }
}

export class UdpLayer {
  private readonly sockets = new Map<number, UdpSocket>();
  private nextEphemeral = EPHEMERAL_FIRST;
  constructor(readonly stack: NetStack) {}

  /** Bind `port` (0 = an ephemeral port); throws EADDRINUSE-style when taken. */
  bind(port = 0, localIp = 0): UdpSocket {
    let p = port;
    if (p === 0) {
      for (let i = 0; i <= EPHEMERAL_LAST - EPHEMERAL_FIRST; i++) {
        const cand = this.nextEphemeral;
        this.nextEphemeral = cand >= EPHEMERAL_LAST ? EPHEMERAL_FIRST : cand + 1;
        if (!this.sockets.has(cand)) { p = cand; break; }
      }
      if (p === 0) throw new Error('no free ephemeral UDP port');
    } else if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new RangeError(`UDP port ${port} out of range`);
    } else if (this.sockets.has(p)) {
      throw new Error(`bind: Address already in use (udp port ${p})`);
    }
    const s = new UdpSocket(this, p, localIp);
    this.sockets.set(p, s);
    return s;
  }

  release(s: UdpSocket): void {
    if (this.sockets.get(s.port) === s) this.sockets.delete(s.port);
  }

  output(srcPort: number, dst: number, dstPort: number, data: Uint8Array, o: { src: number | undefined; iface: NetInterface | undefined }): boolean {
    const len = UdpHdr.size + data.length;
    if (len > 0xffff) return false;
    const seg = new Uint8Array(len);
    const v = dv(seg);
    const U = UdpHdr.offset;
    v.setUint16(U.src_port, srcPort);
    v.setUint16(U.dst_port, dstPort);
    v.setUint16(U.length, len);
    seg.set(data, UdpHdr.size);
    const ok = this.stack.sendIpv4(dst, IpProto.UDP, seg, {
      csumAt: U.checksum,
      ...(o.src !== undefined ? { src: o.src } : {}),
      ...(o.iface ? { iface: o.iface } : {}),
    });
    if (ok) this.stack.counters.udpOutDatagrams++;
    return ok;
  }

  input(d: IpDatagram): void {
    const c = this.stack.counters;
    const p = d.payload;
    if (p.length < UdpHdr.size) {
      c.udpInErrors++;
      return;
    }
    const v = dv(p);
    const U = UdpHdr.offset;
    const len = v.getUint16(U.length);
    if (len < UdpHdr.size || len > p.length) {
      c.udpInErrors++;
      return;
    }
    const seg = p.subarray(0, len);
    if (v.getUint16(U.checksum) !== 0 && !d.csumValid && !this.stack.l4ChecksumOk({ ...d, payload: seg })) {
      c.udpInCsumErrors++;
      c.udpInErrors++;
      return;
    }
    const sock = this.sockets.get(v.getUint16(U.dst_port));
    if (!sock || (sock.localIp !== 0 && sock.localIp !== d.dst)) {
      c.udpNoPorts++;
      return;
    }
    c.udpInDatagrams++;
    if (!sock.queue.push({ src: d.src, srcPort: v.getUint16(U.src_port), dst: d.dst, data: seg.slice(UdpHdr.size) })) c.udpRcvbufErrors++;
  }
}

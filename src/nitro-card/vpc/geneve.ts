// Geneve (RFC 8926; specs.md §7.2) between cards: encapsulation of inner Ethernet frames with VNI = the VPC id,
// checked decapsulation (malformed datagrams get a named drop reason), and the underlay endpoint — a real UDP socket.
// Each card binds its own loopback address (127.a.b.c) on port 6081, so every tunnel in a capture is on the IANA port
// and Wireshark/tshark decode it without hints.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import {
  EthHdr, EtherType, GENEVE_OPT_CRITICAL, GENEVE_PORT, GeneveFlag, GeneveHdr, GeneveOpt, IpProto,
} from '../../devices/net-wire.ts';
import { ethFrame, ipv4Packet, udpDatagram } from './frames.ts';

/** SO_RCVBUF asked for on the underlay socket (bytes). */
export const UNDERLAY_RCVBUF = 8 << 20;

export type GeneveDropReason =
  | 'runt' | 'bad-version' | 'bad-option-length' | 'oam' | 'critical-option' | 'not-ethernet' | 'inner-runt';

export type Decapsulated = { kind: 'ok'; vni: number; inner: Uint8Array } | { kind: 'drop'; reason: GeneveDropReason };

const G = GeneveHdr.offset;

/** Geneve header (no options) + inner frame. */
export function geneveEncap(vni: number, inner: Uint8Array): Uint8Array {
  if (!(Number.isInteger(vni) && vni >= 0 && vni < 1 << 24)) throw new RangeError(`VNI ${vni} is not 24-bit`);
  const d = new Uint8Array(GeneveHdr.size + inner.length);
  const v = new DataView(d.buffer);
  v.setUint8(G.ver_optlen, 0);
  v.setUint8(G.flags, 0);
  v.setUint16(G.protocol_type, EtherType.TEB);
  v.setUint32(G.vni, (vni << 8) >>> 0); // VNI in the top 24 bits, reserved byte 0
  d.set(inner, GeneveHdr.size);
  return d;
}

/** Validate and strip the Geneve header. Options are walked; a critical one (we understand none) drops the packet. */
export function geneveDecap(d: Uint8Array): Decapsulated {
  if (d.length < GeneveHdr.size) return { kind: 'drop', reason: 'runt' };
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const b0 = v.getUint8(G.ver_optlen);
  if (b0 >> 6 !== 0) return { kind: 'drop', reason: 'bad-version' };
  const optBytes = (b0 & 0x3f) * 4;
  const hdrLen = GeneveHdr.size + optBytes;
  if (d.length < hdrLen) return { kind: 'drop', reason: 'bad-option-length' };
  const flags = v.getUint8(G.flags);
  if (flags & GeneveFlag.OAM) return { kind: 'drop', reason: 'oam' };
  for (let at = GeneveHdr.size; at < hdrLen;) {
    if (at + GeneveOpt.size > hdrLen) return { kind: 'drop', reason: 'bad-option-length' };
    const len = GeneveOpt.size + (v.getUint8(at + GeneveOpt.offset.length) & 0x1f) * 4;
    if (at + len > hdrLen) return { kind: 'drop', reason: 'bad-option-length' };
    if (v.getUint8(at + GeneveOpt.offset.type) & GENEVE_OPT_CRITICAL) return { kind: 'drop', reason: 'critical-option' };
    at += len;
  }
  if (v.getUint16(G.protocol_type) !== EtherType.TEB) return { kind: 'drop', reason: 'not-ethernet' };
  if (d.length < hdrLen + EthHdr.size) return { kind: 'drop', reason: 'inner-runt' };
  return { kind: 'ok', vni: v.getUint32(G.vni) >>> 8, inner: d.subarray(hdrLen) };
}

export interface UnderlayAddr { address: string; port: number }

const UNDERLAY_MAC = (last: number) => Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, last & 0xff);

/** The datagram as it would appear on an Ethernet underlay (outer Ethernet + IPv4 + UDP, checksum 0) for captures. */
export function underlayFrame(src: UnderlayAddr, dst: UnderlayAddr, geneve: Uint8Array): Uint8Array {
  const s = ipv4ToNumber(src.address);
  const t = ipv4ToNumber(dst.address);
  const udp = udpDatagram(s, t, src.port, dst.port, geneve, false);
  return ethFrame(UNDERLAY_MAC(t), UNDERLAY_MAC(s), EtherType.IPV4, ipv4Packet({ src: s, dst: t, proto: IpProto.UDP }, udp));
}

function ipv4ToNumber(a: string): number {
  const p = a.split('.').map(Number);
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

/** A random loopback address 127.a.b.c (not 127.0.0.x), so several cards can each own port 6081. */
export function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** One card's underlay endpoint: a UDP socket that sends and receives Geneve datagrams. */
export class GeneveUnderlay {
  private constructor(private readonly sock: Socket, readonly local: UnderlayAddr) {}

  /**
   * Bind `address:port`; without an address, a random loopback address on 6081 (retried on collision), falling back
   * to 127.0.0.1 on an ephemeral port where the OS has only 127.0.0.1 (then captures need `-d udp.port==N,geneve`).
   */
  static async bind(onDatagram: (d: Uint8Array, from: UnderlayAddr) => void, at?: Partial<UnderlayAddr>): Promise<GeneveUnderlay> {
    const tries: UnderlayAddr[] = at?.address !== undefined
      ? [{ address: at.address, port: at.port ?? GENEVE_PORT }]
      : [...Array.from({ length: 5 }, () => ({ address: randomLoopback(), port: at?.port ?? GENEVE_PORT })), { address: '127.0.0.1', port: 0 }];
    let last: unknown;
    for (const t of tries) {
      try {
        // A receive buffer for bursts: a peer card's tx batch arrives as back-to-back datagrams, and with the default
        // (~208 KiB) the kernel dropped thousands a second (Udp RcvbufErrors). The kernel caps it at rmem_max.
        const sock = createSocket({ type: 'udp4', recvBufferSize: UNDERLAY_RCVBUF });
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(t.port, t.address, () => { sock.off('error', reject); resolve(); });
        });
        const a = sock.address();
        const u = new GeneveUnderlay(sock, { address: a.address, port: a.port });
        sock.on('message', (msg: Buffer, r: RemoteInfo) => onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { address: r.address, port: r.port }));
        sock.on('error', () => {}); // ICMP port unreachable etc.: the datagram is lost, as on a real underlay
        return u;
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  send(to: UnderlayAddr, datagram: Uint8Array): void {
    this.sock.send(datagram, to.port, to.address);
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

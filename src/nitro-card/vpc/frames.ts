// Frame builders for what the card itself sends (ARP replies, DHCP offers, Geneve outer headers in the mirror) and
// for tests: Ethernet II, ARP (RFC 826), IPv4 with its header checksum, UDP and ICMP echo with their checksums.
import {
  ArpOp, ArpPkt, EthHdr, EtherType, IcmpEcho, IpProto, Ipv4Hdr, UdpHdr, internetChecksum, pseudoHeaderSum,
} from '../../devices/net-wire.ts';

export function ethFrame(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(EthHdr.size + payload.length);
  f.set(dst.subarray(0, 6), EthHdr.offset.dst);
  f.set(src.subarray(0, 6), EthHdr.offset.src);
  new DataView(f.buffer).setUint16(EthHdr.offset.ethertype, ethertype);
  f.set(payload, EthHdr.size);
  return f;
}

export function arpPacket(oper: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const p = new Uint8Array(ArpPkt.size);
  const v = new DataView(p.buffer);
  const A = ArpPkt.offset;
  v.setUint16(A.htype, 1);
  v.setUint16(A.ptype, EtherType.IPV4);
  v.setUint8(A.hlen, 6);
  v.setUint8(A.plen, 4);
  v.setUint16(A.oper, oper);
  p.set(sha.subarray(0, 6), A.sha);
  v.setUint32(A.spa, spa >>> 0);
  p.set(tha.subarray(0, 6), A.tha);
  v.setUint32(A.tpa, tpa >>> 0);
  return p;
}

export function arpReplyFrame(toMac: Uint8Array, toIp: number, fromMac: Uint8Array, fromIp: number): Uint8Array {
  return ethFrame(toMac, fromMac, EtherType.ARP, arpPacket(ArpOp.REPLY, fromMac, fromIp, toMac, toIp));
}

export interface Ipv4Fields { src: number; dst: number; proto: number; ttl?: number; id?: number; dontFragment?: boolean }

/** An IPv4 packet (IHL 5) around `payload`, header checksum filled in. */
export function ipv4Packet(h: Ipv4Fields, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(Ipv4Hdr.size + payload.length);
  const v = new DataView(p.buffer);
  const I = Ipv4Hdr.offset;
  v.setUint8(I.ver_ihl, 0x45);
  v.setUint16(I.total_length, p.length);
  v.setUint16(I.identification, h.id ?? 0);
  v.setUint16(I.flags_frag, h.dontFragment === false ? 0 : 0x4000);
  v.setUint8(I.ttl, h.ttl ?? 64);
  v.setUint8(I.protocol, h.proto);
  v.setUint32(I.src, h.src >>> 0);
  v.setUint32(I.dst, h.dst >>> 0);
  v.setUint16(I.checksum, internetChecksum(p, 0, Ipv4Hdr.size));
  p.set(payload, Ipv4Hdr.size);
  return p;
}

/** A UDP datagram with its checksum over the IPv4 pseudo-header (0 when `checksum` is false, as Geneve allows). */
export function udpDatagram(src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array, checksum = true): Uint8Array {
  const d = new Uint8Array(UdpHdr.size + payload.length);
  const v = new DataView(d.buffer);
  const U = UdpHdr.offset;
  v.setUint16(U.src_port, srcPort);
  v.setUint16(U.dst_port, dstPort);
  v.setUint16(U.length, d.length);
  d.set(payload, UdpHdr.size);
  if (checksum) {
    const c = internetChecksum(d, 0, d.length, pseudoHeaderSum(src, dst, IpProto.UDP, d.length));
    v.setUint16(U.checksum, c === 0 ? 0xffff : c);
  }
  return d;
}

export function icmpEcho(type: number, id: number, seq: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const m = new Uint8Array(IcmpEcho.size + data.length);
  const v = new DataView(m.buffer);
  v.setUint8(IcmpEcho.offset.type, type);
  v.setUint16(IcmpEcho.offset.id, id);
  v.setUint16(IcmpEcho.offset.seq, seq);
  m.set(data, IcmpEcho.size);
  v.setUint16(IcmpEcho.offset.checksum, internetChecksum(m, 0, m.length));
  return m;
}

/** Ethernet + IPv4 + UDP in one go. */
export function udpFrame(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return ethFrame(dstMac, srcMac, EtherType.IPV4, ipv4Packet({ src, dst, proto: IpProto.UDP }, udpDatagram(src, dst, srcPort, dstPort, payload)));
}

/** Ethernet + IPv4 + ICMP echo. */
export function icmpFrame(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, type: number, id: number, seq: number): Uint8Array {
  return ethFrame(dstMac, srcMac, EtherType.IPV4, ipv4Packet({ src, dst, proto: IpProto.ICMP }, icmpEcho(type, id, seq, new Uint8Array(32).fill(0x61))));
}

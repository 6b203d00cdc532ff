// Frame parsing and validation for the VPC data plane: Ethernet II, then ARP or IPv4 (RFC 791 header checks incl. the
// header checksum), then the ports / ICMP fields the security groups and flow logs need. A frame that fails a check
// gets a named drop reason; nothing here throws on guest input.
import {
  ArpPkt, EthHdr, EtherType, IcmpEcho, IpProto, Ipv4Hdr, TcpHdr, UdpHdr, onesComplementSum,
} from '../../devices/net-wire.ts';

/** Largest IPv4 packet an ENI accepts (AWS's jumbo MTU inside a VPC). */
export const VPC_MTU = 9001;
export const MAX_ETH_FRAME = EthHdr.size + VPC_MTU;

export type DropReason =
  | 'runt' | 'oversize' | 'unsupported-ethertype' | 'bad-arp' | 'bad-ip-version' | 'bad-ip-header' | 'bad-ip-length'
  | 'bad-ip-checksum' | 'ip-fragment' | 'bad-l4-header';

export interface Ipv4Info {
  readonly src: number;
  readonly dst: number;
  readonly proto: number;
  readonly ttl: number;
  /** IPv4 total length (header + payload). */
  readonly totalLength: number;
  /** Offset of the L4 header in the frame. */
  readonly l4Off: number;
  /** Ports for TCP/UDP; for ICMP echo srcPort = identifier, dstPort = 0 (conntrack key), else 0. */
  readonly srcPort: number;
  readonly dstPort: number;
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly tcpFlags: number;
}

export type Parsed =
  | { kind: 'ipv4'; ip: Ipv4Info }
  | { kind: 'arp'; oper: number; spa: number; tpa: number }
  | { kind: 'drop'; reason: DropReason };

const E = EthHdr.offset;
const I = Ipv4Hdr.offset;

/** Parse and validate one Ethernet frame (no FCS). */
export function parseFrame(f: Uint8Array): Parsed {
  if (f.length < EthHdr.size) return { kind: 'drop', reason: 'runt' };
  if (f.length > MAX_ETH_FRAME) return { kind: 'drop', reason: 'oversize' };
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const type = v.getUint16(E.ethertype);
  if (type === EtherType.ARP) return parseArp(v);
  if (type !== EtherType.IPV4) return { kind: 'drop', reason: 'unsupported-ethertype' };
  return parseIpv4(f, v, EthHdr.size);
}

function parseArp(v: DataView): Parsed {
  const at = EthHdr.size;
  const A = ArpPkt.offset;
  if (v.byteLength < at + ArpPkt.size) return { kind: 'drop', reason: 'runt' };
  if (v.getUint16(at + A.htype) !== 1 || v.getUint16(at + A.ptype) !== EtherType.IPV4 || v.getUint8(at + A.hlen) !== 6 || v.getUint8(at + A.plen) !== 4) {
    return { kind: 'drop', reason: 'bad-arp' };
  }
  return { kind: 'arp', oper: v.getUint16(at + A.oper), spa: v.getUint32(at + A.spa), tpa: v.getUint32(at + A.tpa) };
}

/** Parse the IPv4 packet at `at` (used for guest frames and for decapsulated inner frames). */
export function parseIpv4(f: Uint8Array, v: DataView, at: number): Parsed {
  if (f.length < at + Ipv4Hdr.size) return { kind: 'drop', reason: 'runt' };
  const verIhl = v.getUint8(at + I.ver_ihl);
  if (verIhl >> 4 !== 4) return { kind: 'drop', reason: 'bad-ip-version' };
  const hlen = (verIhl & 0xf) * 4;
  if (hlen < Ipv4Hdr.size || f.length < at + hlen) return { kind: 'drop', reason: 'bad-ip-header' };
  const totalLength = v.getUint16(at + I.total_length);
  if (totalLength < hlen || at + totalLength > f.length) return { kind: 'drop', reason: 'bad-ip-length' };
  if (onesComplementSum(f, at, at + hlen) !== 0xffff) return { kind: 'drop', reason: 'bad-ip-checksum' };
  const frag = v.getUint16(at + I.flags_frag);
  // Non-first fragments carry no ports to match rules against; this VPC does not reassemble (documented).
  if ((frag & 0x1fff) !== 0 || (frag & 0x2000) !== 0) return { kind: 'drop', reason: 'ip-fragment' };
  const proto = v.getUint8(at + I.protocol);
  const l4Off = at + hlen;
  const l4Len = totalLength - hlen;
  let srcPort = 0, dstPort = 0, icmpType = 0, icmpCode = 0, tcpFlags = 0;
  if (proto === IpProto.TCP) {
    if (l4Len < TcpHdr.size) return { kind: 'drop', reason: 'bad-l4-header' };
    srcPort = v.getUint16(l4Off + TcpHdr.offset.src_port);
    dstPort = v.getUint16(l4Off + TcpHdr.offset.dst_port);
    tcpFlags = v.getUint8(l4Off + TcpHdr.offset.flags);
  } else if (proto === IpProto.UDP) {
    if (l4Len < UdpHdr.size) return { kind: 'drop', reason: 'bad-l4-header' };
    srcPort = v.getUint16(l4Off + UdpHdr.offset.src_port);
    dstPort = v.getUint16(l4Off + UdpHdr.offset.dst_port);
  } else if (proto === IpProto.ICMP) {
    if (l4Len < 4) return { kind: 'drop', reason: 'bad-l4-header' };
    icmpType = v.getUint8(l4Off + IcmpEcho.offset.type);
    icmpCode = v.getUint8(l4Off + IcmpEcho.offset.code);
    if (l4Len >= IcmpEcho.size) srcPort = v.getUint16(l4Off + IcmpEcho.offset.id);
  }
  return {
    kind: 'ipv4',
    ip: { src: v.getUint32(at + I.src), dst: v.getUint32(at + I.dst), proto, ttl: v.getUint8(at + I.ttl), totalLength, l4Off, srcPort, dstPort, icmpType, icmpCode, tcpFlags },
  };
}

// The card's DHCP server for its ENIs (RFC 2131/2132), like the VPC's DHCP at the subnet router: every ENI gets its
// one fixed address. DISCOVER → OFFER, REQUEST for that address → ACK (anything else → NAK), INFORM → ACK without
// yiaddr; DECLINE/RELEASE are noted and ignored. Options sent: 53, 54 server id (= gateway), 51 lease time,
// 1 subnet mask, 3 router. Replies go to IP 255.255.255.255 and the client's MAC, which every client accepts.
import { DHCP_MAGIC, DhcpHdr, DhcpMsg, DhcpOpt, DhcpPort, EtherType, IpProto, UdpHdr } from '../../devices/net-wire.ts';
import { ethFrame, ipv4Packet, udpDatagram } from './frames.ts';

export const DHCP_LEASE_SECONDS = 3600;

export interface DhcpLease { mac: Uint8Array; ip: number; mask: number; gatewayIp: number; gatewayMac: Uint8Array }

export type DhcpOutcome =
  | { kind: 'reply'; frame: Uint8Array; msgType: number }
  | { kind: 'ignore'; why: string }
  | { kind: 'drop'; reason: 'bad-dhcp' | 'spoofed-mac' };

const D = DhcpHdr.offset;

/** Options as code → value bytes (the last occurrence wins; PAD skipped, END stops). Undefined if malformed. */
export function parseDhcpOptions(b: Uint8Array, start: number, end: number): Map<number, Uint8Array> | undefined {
  const out = new Map<number, Uint8Array>();
  let at = start;
  while (at < end) {
    const code = b[at]!;
    if (code === DhcpOpt.PAD) { at++; continue; }
    if (code === DhcpOpt.END) return out;
    if (at + 2 > end) return undefined;
    const len = b[at + 1]!;
    if (at + 2 + len > end) return undefined;
    out.set(code, b.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}

const u32 = (b: Uint8Array | undefined): number | undefined =>
  b && b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : undefined;

/** Answer one DHCP message (the UDP payload) an ENI sent. */
export function answerDhcp(payload: Uint8Array, lease: DhcpLease): DhcpOutcome {
  if (payload.length < DhcpHdr.size) return { kind: 'drop', reason: 'bad-dhcp' };
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (v.getUint8(D.op) !== 1 || v.getUint8(D.htype) !== 1 || v.getUint8(D.hlen) !== 6 || v.getUint32(D.magic) !== DHCP_MAGIC) {
    return { kind: 'drop', reason: 'bad-dhcp' };
  }
  for (let i = 0; i < 6; i++) if (payload[D.chaddr + i] !== lease.mac[i]) return { kind: 'drop', reason: 'spoofed-mac' };
  const opts = parseDhcpOptions(payload, DhcpHdr.size, payload.length);
  const type = opts?.get(DhcpOpt.MSG_TYPE)?.[0];
  if (!opts || type === undefined) return { kind: 'drop', reason: 'bad-dhcp' };
  const ciaddr = v.getUint32(D.ciaddr);
  switch (type) {
    case DhcpMsg.DISCOVER:
      return reply(payload, lease, DhcpMsg.OFFER, lease.ip);
    case DhcpMsg.REQUEST: {
      const server = u32(opts.get(DhcpOpt.SERVER_ID));
      if (server !== undefined && server !== lease.gatewayIp) return { kind: 'ignore', why: 'request for another server' };
      const wanted = u32(opts.get(DhcpOpt.REQUESTED_IP)) ?? ciaddr;
      return wanted === lease.ip ? reply(payload, lease, DhcpMsg.ACK, lease.ip) : reply(payload, lease, DhcpMsg.NAK, 0);
    }
    case DhcpMsg.INFORM:
      return reply(payload, lease, DhcpMsg.ACK, 0);
    default:
      return { kind: 'ignore', why: `message type ${type}` };
  }
}

function reply(req: Uint8Array, lease: DhcpLease, msgType: number, yiaddr: number): DhcpOutcome {
  const opts: number[] = [DhcpOpt.MSG_TYPE, 1, msgType, DhcpOpt.SERVER_ID, 4, ...be32(lease.gatewayIp)];
  if (msgType !== DhcpMsg.NAK) {
    opts.push(DhcpOpt.SUBNET_MASK, 4, ...be32(lease.mask), DhcpOpt.ROUTER, 4, ...be32(lease.gatewayIp));
    if (yiaddr !== 0) opts.push(DhcpOpt.LEASE_TIME, 4, ...be32(DHCP_LEASE_SECONDS));
  }
  opts.push(DhcpOpt.END);
  const m = new Uint8Array(DhcpHdr.size + opts.length);
  const v = new DataView(m.buffer);
  const rq = new DataView(req.buffer, req.byteOffset, req.byteLength);
  v.setUint8(D.op, 2);
  v.setUint8(D.htype, 1);
  v.setUint8(D.hlen, 6);
  v.setUint32(D.xid, rq.getUint32(D.xid));
  v.setUint16(D.flags, rq.getUint16(D.flags));
  v.setUint32(D.ciaddr, msgType === DhcpMsg.ACK && yiaddr === 0 ? rq.getUint32(D.ciaddr) : 0);
  v.setUint32(D.yiaddr, yiaddr >>> 0);
  v.setUint32(D.siaddr, lease.gatewayIp >>> 0);
  m.set(req.subarray(D.chaddr, D.chaddr + 16), D.chaddr);
  v.setUint32(D.magic, DHCP_MAGIC);
  m.set(opts, DhcpHdr.size);
  const bcast = 0xffffffff;
  const udp = udpDatagram(lease.gatewayIp, bcast, DhcpPort.SERVER, DhcpPort.CLIENT, m);
  return { kind: 'reply', msgType, frame: ethFrame(lease.mac, lease.gatewayMac, EtherType.IPV4, ipv4Packet({ src: lease.gatewayIp, dst: bcast, proto: IpProto.UDP }, udp)) };
}

function be32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** Is this UDP packet (at l4Off) a DHCP client message (68 → 67)? */
export function isDhcpClient(frame: Uint8Array, l4Off: number): boolean {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return v.getUint16(l4Off + UdpHdr.offset.src_port) === DhcpPort.CLIENT && v.getUint16(l4Off + UdpHdr.offset.dst_port) === DhcpPort.SERVER;
}

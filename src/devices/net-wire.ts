// Network wire structures, declared once for the card's VPC data plane and the guest's IP stack: Ethernet II, ARP
// (RFC 826), IPv4 (RFC 791), ICMP echo (RFC 792), UDP (RFC 768), TCP (RFC 9293), BOOTP/DHCP (RFC 2131/2132),
// Geneve (RFC 8926; specs.md §7.2) and the libpcap savefile headers (specs.md §7.3). Network headers are big-endian;
// pcap is written little-endian. Hot paths use DataView at these offsets.
import { defineStruct } from './layout.ts';
import { onesComplementSum } from './virtio-net/checksum.ts';

export { onesComplementSum };

export const EthHdr = defineStruct('EthHdr', [
  ['dst', { bytes: 6 }],
  ['src', { bytes: 6 }],
  ['ethertype', 'u16be'],
] as const, 14);

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd, TEB: 0x6558 } as const;

export const ArpPkt = defineStruct('ArpPkt', [
  ['htype', 'u16be'],
  ['ptype', 'u16be'],
  ['hlen', 'u8'],
  ['plen', 'u8'],
  ['oper', 'u16be'],
  ['sha', { bytes: 6 }],
  ['spa', 'u32be'],
  ['tha', { bytes: 6 }],
  ['tpa', 'u32be'],
] as const, 28);

export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;

/** IPv4 header without options (IHL = 5); `ver_ihl` bits 7:4 version, 3:0 IHL in 32-bit words. */
export const Ipv4Hdr = defineStruct('Ipv4Hdr', [
  ['ver_ihl', 'u8'],
  ['tos', 'u8'],
  ['total_length', 'u16be'],
  ['identification', 'u16be'],
  ['flags_frag', 'u16be'],
  ['ttl', 'u8'],
  ['protocol', 'u8'],
  ['checksum', 'u16be'],
  ['src', 'u32be'],
  ['dst', 'u32be'],
] as const, 20);

export const IpProto = { ICMP: 1, TCP: 6, UDP: 17 } as const;

/** ICMP echo request/reply (type 8/0); other ICMP types share the first 4 bytes. */
export const IcmpEcho = defineStruct('IcmpEcho', [
  ['type', 'u8'],
  ['code', 'u8'],
  ['checksum', 'u16be'],
  ['id', 'u16be'],
  ['seq', 'u16be'],
] as const, 8);

export const IcmpType = { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8 } as const;

export const UdpHdr = defineStruct('UdpHdr', [
  ['src_port', 'u16be'],
  ['dst_port', 'u16be'],
  ['length', 'u16be'],
  ['checksum', 'u16be'],
] as const, 8);

/** TCP header without options; `data_offset` bits 7:4 are the header length in 32-bit words. */
export const TcpHdr = defineStruct('TcpHdr', [
  ['src_port', 'u16be'],
  ['dst_port', 'u16be'],
  ['seq', 'u32be'],
  ['ack', 'u32be'],
  ['data_offset', 'u8'],
  ['flags', 'u8'],
  ['window', 'u16be'],
  ['checksum', 'u16be'],
  ['urgent', 'u16be'],
] as const, 20);

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** BOOTP fixed part plus the DHCP magic cookie (RFC 2131 §2); options follow at `size`. */
export const DhcpHdr = defineStruct('DhcpHdr', [
  ['op', 'u8'],
  ['htype', 'u8'],
  ['hlen', 'u8'],
  ['hops', 'u8'],
  ['xid', 'u32be'],
  ['secs', 'u16be'],
  ['flags', 'u16be'],
  ['ciaddr', 'u32be'],
  ['yiaddr', 'u32be'],
  ['siaddr', 'u32be'],
  ['giaddr', 'u32be'],
  ['chaddr', { bytes: 16 }],
  ['sname', { bytes: 64 }],
  ['file', { bytes: 128 }],
  ['magic', 'u32be'],
] as const, 240);

export const DHCP_MAGIC = 0x63825363;
export const DhcpPort = { SERVER: 67, CLIENT: 68 } as const;
/** RFC 2132 option codes used here. */
export const DhcpOpt = {
  PAD: 0, SUBNET_MASK: 1, ROUTER: 3, DNS: 6, MTU: 26, REQUESTED_IP: 50, LEASE_TIME: 51, MSG_TYPE: 53,
  SERVER_ID: 54, PARAM_LIST: 55, END: 255,
} as const;
export const DhcpMsg = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

/** Geneve base header (RFC 8926 §3.4): Ver(2) OptLen(6) | O C Rsvd(6) | Protocol Type | VNI(24) Reserved(8). */
export const GeneveHdr = defineStruct('GeneveHdr', [
  ['ver_optlen', 'u8'],
  ['flags', 'u8'],
  ['protocol_type', 'u16be'],
  ['vni', { bytes: 3 }],
  ['rsvd', 'u8'],
] as const, 8);

/** Geneve option TLV header: class, type (bit 7 = critical), R(3) length(5) in 4-byte words. */
export const GeneveOpt = defineStruct('GeneveOpt', [
  ['option_class', 'u16be'],
  ['type', 'u8'],
  ['length', 'u8'],
] as const, 4);

export const GENEVE_PORT = 6081;
export const GeneveFlag = { OAM: 0x80, CRITICAL: 0x40 } as const;
export const GENEVE_OPT_CRITICAL = 0x80;

/** libpcap savefile global header (pcap-savefile(5)), written little-endian. */
export const PcapGlobalHdr = defineStruct('PcapGlobalHdr', [
  ['magic', 'u32'],
  ['version_major', 'u16'],
  ['version_minor', 'u16'],
  ['thiszone', 'u32'],
  ['sigfigs', 'u32'],
  ['snaplen', 'u32'],
  ['network', 'u32'],
] as const, 24);

export const PcapRecordHdr = defineStruct('PcapRecordHdr', [
  ['ts_sec', 'u32'],
  ['ts_usec', 'u32'],
  ['incl_len', 'u32'],
  ['orig_len', 'u32'],
] as const, 16);

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;

/** RFC 1071 Internet checksum of b[start, end), complemented (the value to store). */
export function internetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return ~onesComplementSum(b, start, end, initial) & 0xffff;
}

/** Ones'-complement sum of the IPv4 pseudo-header (src, dst, zero, protocol, L4 length), for TCP/UDP checksums. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, l4Length: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4Length;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

// Addresses

/** "10.0.0.1" → 0x0a000001 (unsigned), or undefined. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

export function formatMac(b: Uint8Array, off = 0): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

/** An IPv4 CIDR block: network address, prefix length and mask. */
export interface Cidr { readonly network: number; readonly prefix: number; readonly mask: number }

export function parseCidr(s: string): Cidr | undefined {
  const [ip, len, extra] = s.split('/');
  if (ip === undefined || len === undefined || extra !== undefined || !/^\d{1,2}$/.test(len)) return undefined;
  const addr = parseIpv4(ip);
  const prefix = Number(len);
  if (addr === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((addr & mask) >>> 0 !== addr) return undefined;
  return { network: addr, prefix, mask };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & c.mask) >>> 0) === c.network;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

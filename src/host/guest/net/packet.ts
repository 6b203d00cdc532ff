// Guest-side frame codecs over the shared wire layouts (src/devices/net-wire.ts): Ethernet II, IPv4 (IHL 5, header
// checksum), and the L4 checksum over the IPv4 pseudo-header (RFC 768 / RFC 9293 §3.1). Hot paths use DataView at the
// declared offsets.
import { EthHdr, Ipv4Hdr, internetChecksum, onesComplementSum, pseudoHeaderSum } from '../../../devices/net-wire.ts';

export const ETH_HLEN = EthHdr.size;
export const IP_HLEN = Ipv4Hdr.size;
/** Ethernet payload limit of the guest (no jumbo frames). */
export const ETH_DATA_LEN = 1500;

export const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

export interface Ipv4Header {
  readonly ihl: number;
  readonly totalLength: number;
  readonly id: number;
  readonly flagsFrag: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
}

/** IPv4 flags_frag: MF (bit 13) and the 13-bit fragment offset; DF is bit 14. */
export const IP_MF = 0x2000;
export const IP_DF = 0x4000;
export const IP_OFFSET_MASK = 0x1fff;

export function readIpv4(v: DataView, off: number): Ipv4Header {
  const H = Ipv4Hdr.offset;
  return {
    ihl: v.getUint8(off + H.ver_ihl) & 0x0f,
    totalLength: v.getUint16(off + H.total_length),
    id: v.getUint16(off + H.identification),
    flagsFrag: v.getUint16(off + H.flags_frag),
    ttl: v.getUint8(off + H.ttl),
    protocol: v.getUint8(off + H.protocol),
    src: v.getUint32(off + H.src),
    dst: v.getUint32(off + H.dst),
  };
}

/** Write an Ethernet header at 0. */
export function writeEth(frame: Uint8Array, dst: Uint8Array, src: Uint8Array, ethertype: number): void {
  frame.set(dst.subarray(0, 6), EthHdr.offset.dst);
  frame.set(src.subarray(0, 6), EthHdr.offset.src);
  dv(frame).setUint16(EthHdr.offset.ethertype, ethertype);
}

export interface Ipv4Out {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl: number;
  readonly id: number;
}

/** Write an IHL-5 IPv4 header at `off` for `payloadLen` bytes of payload, checksum included; DF set (no fragments). */
export function writeIpv4(frame: Uint8Array, off: number, h: Ipv4Out, payloadLen: number): void {
  const v = dv(frame);
  const H = Ipv4Hdr.offset;
  v.setUint8(off + H.ver_ihl, 0x45);
  v.setUint8(off + H.tos, 0);
  v.setUint16(off + H.total_length, IP_HLEN + payloadLen);
  v.setUint16(off + H.identification, h.id & 0xffff);
  v.setUint16(off + H.flags_frag, IP_DF);
  v.setUint8(off + H.ttl, h.ttl);
  v.setUint8(off + H.protocol, h.protocol);
  v.setUint16(off + H.checksum, 0);
  v.setUint32(off + H.src, h.src >>> 0);
  v.setUint32(off + H.dst, h.dst >>> 0);
  v.setUint16(off + H.checksum, internetChecksum(frame, off, off + IP_HLEN));
}

/** Does the L4 segment at b[start,end) check out against the pseudo-header? (Sum over everything folds to 0xFFFF.) */
export function l4ChecksumOk(b: Uint8Array, start: number, end: number, src: number, dst: number, proto: number): boolean {
  return onesComplementSum(b, start, end, pseudoHeaderSum(src, dst, proto, end - start)) === 0xffff;
}

/** Fill the L4 checksum at `csumAt` in full (software checksum). */
export function fillL4Checksum(b: Uint8Array, start: number, end: number, csumAt: number, src: number, dst: number, proto: number): void {
  dv(b).setUint16(csumAt, 0);
  const c = internetChecksum(b, start, end, pseudoHeaderSum(src, dst, proto, end - start));
  dv(b).setUint16(csumAt, c === 0 ? 0xffff : c);
}

/** Store only the (uncomplemented) pseudo-header sum, for NEEDS_CSUM offload: the device finishes the job. */
export function fillPseudoChecksum(b: Uint8Array, end: number, start: number, csumAt: number, src: number, dst: number, proto: number): void {
  dv(b).setUint16(csumAt, pseudoHeaderSum(src, dst, proto, end - start));
}

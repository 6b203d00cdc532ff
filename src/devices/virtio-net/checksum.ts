// Partial-checksum completion for VIRTIO_NET_HDR_F_NEEDS_CSUM (virtio 1.2 §5.1.6.2; specs.md §3.10 "Transmit"): the
// 16-bit ones'-complement Internet checksum (RFC 1071) from csum_start to the end, stored at csum_start + csum_offset.

/** Ones'-complement sum of big-endian 16-bit words over b[start, end), folded to 16 bits (an odd tail is padded). */
export function onesComplementSum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Complete a checksum the driver left partial: the field already holds the pseudo-header sum, so the result is the
 * complement of the sum over [csumStart, end). A result of 0 is stored as 0xFFFF (equal in ones' complement, and the
 * UDP "no checksum" value is never produced), as Linux's skb_checksum_help does. Returns false, leaving the frame
 * untouched, when the field does not lie inside the frame.
 */
export function completeChecksum(frame: Uint8Array, csumStart: number, csumOffset: number): boolean {
  const at = csumStart + csumOffset;
  if (csumStart >= frame.length || at + 2 > frame.length) return false;
  const result = ~onesComplementSum(frame, csumStart, frame.length) & 0xffff;
  const stored = result === 0 ? 0xffff : result;
  frame[at] = stored >>> 8;
  frame[at + 1] = stored & 0xff;
  return true;
}

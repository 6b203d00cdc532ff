// virtio-net transmit path, one chain at a time (virtio 1.2 §5.1.6.2; specs.md §3.10 "Transmit"): gather the
// device-readable chain, strip the 12-byte virtio_net_hdr_v1, complete a partial checksum when CSUM was negotiated.
import { viewOf } from '../layout.ts';
import { completeChecksum } from './checksum.ts';
import { RingError, type DescChain, type Virtqueue } from './queue.ts';
import { GsoType, NetHdr, NetHdrFlags } from './regs.ts';

/** Largest Ethernet frame (no FCS) accepted either way: 64 KiB of payload plus the header, as QEMU's limit. */
export const MAX_FRAME = 65550;

export type TxOutcome =
  | { readonly kind: 'frame'; readonly frame: Uint8Array }
  | { readonly kind: 'drop'; readonly reason: 'empty' | 'oversize' | 'gso-not-negotiated' | 'csum-not-negotiated' | 'bad-csum-offset' };

/**
 * Read one TX chain and turn it into the frame to hand the backend, or a drop reason (the buffer is still returned).
 * A chain too short for the header is a malformed ring and throws RingError.
 */
export async function readTxFrame(q: Virtqueue, chain: DescChain, csumNegotiated: boolean): Promise<TxOutcome> {
  if (chain.readBytes < NetHdr.size) {
    throw new RingError('tx-header-short', { queue: q.index, head: chain.head, len: chain.readBytes });
  }
  const frameLen = chain.readBytes - NetHdr.size;
  if (frameLen === 0) return { kind: 'drop', reason: 'empty' };
  if (frameLen > MAX_FRAME) return { kind: 'drop', reason: 'oversize' };
  const buf = new Uint8Array(chain.readBytes);
  await q.readChain(chain, buf);
  const hdr = viewOf(buf);
  const H = NetHdr.offset;
  if ((hdr.getUint8(H.gso_type) & ~GsoType.ECN) !== GsoType.NONE) return { kind: 'drop', reason: 'gso-not-negotiated' };
  const frame = buf.subarray(NetHdr.size);
  if (hdr.getUint8(H.flags) & NetHdrFlags.NEEDS_CSUM) {
    if (!csumNegotiated) return { kind: 'drop', reason: 'csum-not-negotiated' };
    if (!completeChecksum(frame, hdr.getUint16(H.csum_start, true), hdr.getUint16(H.csum_offset, true))) {
      return { kind: 'drop', reason: 'bad-csum-offset' };
    }
  }
  return { kind: 'frame', frame };
}

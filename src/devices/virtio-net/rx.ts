// virtio-net receive placement (virtio 1.2 §5.1.6.3–5.1.6.4; specs.md §3.10 "Receive"): write header + frame into
// the driver's posted buffers — exactly one buffer without MRG_RXBUF, as many as needed with it (num_buffers says how
// many). A packet that does not fit is dropped and the buffers it took are given back unused.
import { viewOf } from '../layout.ts';
import { RingError, type DescChain, type Virtqueue } from './queue.ts';
import { NetHdr } from './regs.ts';

export type RxOutcome =
  | { readonly kind: 'delivered'; readonly buffers: number }
  | { readonly kind: 'drop'; readonly reason: 'no-buffers' | 'buffer-too-small' };

function checkBuffer(q: Virtqueue, chain: DescChain): void {
  // Every rx buffer must hold at least the header (§5.1.6.3.1).
  if (chain.writeBytes < NetHdr.size) {
    throw new RingError('rx-buffer-short', { queue: q.index, head: chain.head, len: chain.writeBytes });
  }
}

/**
 * Place `packet` (a 12-byte virtio_net_hdr_v1 followed by the frame; num_buffers is filled in here) into available
 * rx chains and queue their used elements. The caller flushes the used ring.
 */
export async function placePacket(q: Virtqueue, packet: Uint8Array, mergeable: boolean): Promise<RxOutcome> {
  const chains: DescChain[] = [];
  let room = 0;
  while (room < packet.length) {
    const chain = await q.popChain();
    if (!chain) {
      q.rewind(chains.length);
      return { kind: 'drop', reason: 'no-buffers' };
    }
    checkBuffer(q, chain);
    chains.push(chain);
    room += chain.writeBytes;
    if (!mergeable && room < packet.length) {
      q.rewind(1);
      return { kind: 'drop', reason: 'buffer-too-small' };
    }
  }
  viewOf(packet).setUint16(NetHdr.offset.num_buffers, chains.length, true);
  let at = 0;
  for (const chain of chains) {
    const n = Math.min(chain.writeBytes, packet.length - at);
    await q.writeChain(chain, packet.subarray(at, at + n));
    q.addUsed(chain.head, n);
    at += n;
  }
  return { kind: 'delivered', buffers: chains.length };
}

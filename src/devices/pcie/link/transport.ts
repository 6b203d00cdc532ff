// The byte-stream transport a LinkPeer runs over (docs/link-protocol.md §1): a Unix/TCP socket or a pair of
// shared-memory rings. Transports move bytes in order; framing lives in the codec, request matching in the peer.

export interface TransportSink {
  /** Received bytes. Ownership passes to the sink: the transport never reuses `chunk`. */
  data(chunk: Uint8Array): void;
  /** The transport is gone (peer closed, error, or local close). Called at most once. */
  down(reason: string): void;
}

/** Guest memory shared with the card out of band (shm transport only: vfio-user's "fd passed with DMA_MAP"). */
export interface SharedMemoryChannel {
  /** Host side: share `memory` once (idempotent per view), resolving with its memId after the card has it. */
  share(memory: Uint8Array): Promise<number>;
  /** Card side: the memory the host shared under `memId`. */
  lookup(memId: number): Uint8Array | undefined;
}

export interface LinkTransport {
  readonly kind: 'socket' | 'shm';
  /** True when write() has copied the bytes before it returns, so the caller may reuse them at once. */
  readonly copiesOnWrite: boolean;
  /** Present when guest memory can be shared directly (DMA by copy instead of by message). */
  readonly sharedMemory?: SharedMemoryChannel;
  /** Begin delivering bytes and the down event. */
  start(sink: TransportSink): void;
  /** Send whole frames, in order, as one batch. */
  write(chunks: readonly Uint8Array[]): void;
  close(reason?: string): void;
}

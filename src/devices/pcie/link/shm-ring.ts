// Single-producer/single-consumer byte ring in SharedArrayBuffers, carrying link frames between two threads
// (docs/link-protocol.md §1.2). Frames are a byte stream here, so a frame may wrap or even exceed the ring: the codec
// reassembles. Head/tail are free-running u32 byte counters; a doorbell word per direction wakes a sleeping side.
//
//            head (consumer stores)          tail (producer stores)
//                 v                               v
//   data: [ free | f1 hdr | f1 payload | f2 hdr … | free ]    used = (tail - head) mod 2^32, index = counter & (cap-1)
//
// Wake-up protocol (no lost wake-ups with seq-cst Atomics): the consumer reads DATA_SEQ, sets CONSUMER_WAITING, then
// re-checks tail before Atomics.waitAsync(DATA_SEQ, seq); the producer stores tail, bumps DATA_SEQ, then notifies if
// CONSUMER_WAITING. The same handshake with SPACE_SEQ/PRODUCER_WAITING wakes a producer waiting for room.

/** Control words, one per 64-byte line so producer and consumer do not share cache lines. */
const LINE = 16; // Int32 elements per 64 bytes
const HEAD = 0 * LINE;
const TAIL = 1 * LINE;
const DATA_SEQ = 2 * LINE;
const SPACE_SEQ = 3 * LINE;
const CONSUMER_WAITING = 4 * LINE;
const PRODUCER_WAITING = 5 * LINE;
const CLOSED = 6 * LINE;
const CTRL_BYTES = 7 * 64;

type WaitAsync = (ta: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };
// Atomics.waitAsync is ES2024; the project's lib is ES2023, so type it here (present in Node ≥ 16).
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export interface ShmRingDesc {
  readonly ctrl: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

export function createShmRing(capacity: number): ShmRingDesc {
  if (!Number.isInteger(Math.log2(capacity)) || capacity < 64 || capacity > 2 ** 30) {
    throw new RangeError(`ring capacity ${capacity} is not a power of two in 64..2^30`);
  }
  return { ctrl: new SharedArrayBuffer(CTRL_BYTES), data: new SharedArrayBuffer(capacity) };
}

class RingEnd {
  protected readonly ctrl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly mask: number;
  readonly capacity: number;

  constructor(desc: ShmRingDesc) {
    this.ctrl = new Int32Array(desc.ctrl);
    this.data = new Uint8Array(desc.data);
    this.capacity = this.data.byteLength;
    this.mask = this.capacity - 1;
  }

  get closed(): boolean { return Atomics.load(this.ctrl, CLOSED) !== 0; }

  /** Bytes written and not yet consumed. */
  used(): number { return (Atomics.load(this.ctrl, TAIL) - Atomics.load(this.ctrl, HEAD)) >>> 0; }

  /** Mark the ring closed and wake both sides. */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    Atomics.add(this.ctrl, DATA_SEQ, 1);
    Atomics.add(this.ctrl, SPACE_SEQ, 1);
    Atomics.notify(this.ctrl, DATA_SEQ);
    Atomics.notify(this.ctrl, SPACE_SEQ);
  }

  /** Sleep (without blocking the event loop) until `ready()` or closed. */
  protected async sleep(seqIdx: number, waitingIdx: number, ready: () => boolean): Promise<void> {
    while (!ready() && !this.closed) {
      const seq = Atomics.load(this.ctrl, seqIdx);
      Atomics.store(this.ctrl, waitingIdx, 1);
      if (ready() || this.closed) break;
      const r = waitAsync(this.ctrl, seqIdx, seq);
      if (r.async) await r.value;
    }
    Atomics.store(this.ctrl, waitingIdx, 0);
  }
}

export class ShmRingProducer extends RingEnd {
  /** Copy as much of `src` as fits; returns the number of bytes written (0 when full or closed). */
  tryWrite(src: Uint8Array): number {
    if (this.closed) return 0;
    const head = Atomics.load(this.ctrl, HEAD);
    const tail = Atomics.load(this.ctrl, TAIL);
    const free = this.capacity - ((tail - head) >>> 0);
    const n = Math.min(free, src.byteLength);
    if (n === 0) return 0;
    const at = tail & this.mask;
    const first = Math.min(n, this.capacity - at);
    this.data.set(first === src.byteLength ? src : src.subarray(0, first), at);
    if (n > first) this.data.set(src.subarray(first, n), 0);
    Atomics.store(this.ctrl, TAIL, (tail + n) | 0);
    Atomics.add(this.ctrl, DATA_SEQ, 1);
    if (Atomics.load(this.ctrl, CONSUMER_WAITING) !== 0) Atomics.notify(this.ctrl, DATA_SEQ);
    return n;
  }

  /** Resolve once the consumer has freed some space (or the ring closed). */
  waitSpace(): Promise<void> {
    return this.sleep(SPACE_SEQ, PRODUCER_WAITING, () => this.used() < this.capacity);
  }
}

export class ShmRingConsumer extends RingEnd {
  /** Copy out every available byte into a new buffer (ownership passes to the caller), or undefined if empty. */
  read(): Uint8Array | undefined {
    const head = Atomics.load(this.ctrl, HEAD);
    const tail = Atomics.load(this.ctrl, TAIL);
    const n = (tail - head) >>> 0;
    if (n === 0) return undefined;
    const out = new Uint8Array(n);
    const at = head & this.mask;
    const first = Math.min(n, this.capacity - at);
    out.set(this.data.subarray(at, at + first));
    if (n > first) out.set(this.data.subarray(0, n - first), first);
    Atomics.store(this.ctrl, HEAD, (head + n) | 0);
    Atomics.add(this.ctrl, SPACE_SEQ, 1);
    if (Atomics.load(this.ctrl, PRODUCER_WAITING) !== 0) Atomics.notify(this.ctrl, SPACE_SEQ);
    return out;
  }

  /** Spin up to `spins` checks, then sleep until bytes are available or the ring is closed. */
  async waitData(spins: number): Promise<void> {
    for (let i = 0; i < spins; i++) if (this.used() !== 0 || this.closed) return;
    await this.sleep(DATA_SEQ, CONSUMER_WAITING, () => this.used() !== 0);
  }
}

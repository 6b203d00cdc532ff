// Submission and completion queue rings (NVMe Base 1.4 §4.1; specs.md §2.6).
//
//        head (controller fetches / host consumes)        tail (host submits / controller posts)
//         v                                                v
//   [ .. | e | e | e | e | .. free .. ]   empty: head == tail    full: (tail + 1) % size == head
//
// The CQ keeps a host-side mirror of its ring: completions are written into the mirror at `tail` with the current
// phase tag, and the unflushed run is copied to guest memory in one DMA write per contiguous run (two at a wrap).
// The controller never overwrites a slot the host has not consumed: if the ring is full, completions wait in `held`
// until the host rings CQyHDBL.
import { viewOf } from '../layout.ts';
import type { Command } from './command.ts';
import { Cqe, Sqe } from './regs.ts';
import { status16 } from './status.ts';

const C = Cqe.offset;
/** Entries fetched per DMA read at most. */
export const SQ_FETCH_BATCH = 64;

export class SubmissionQueue {
  head = 0;
  tail = 0;
  /** True while the fetch loop runs (a doorbell during the loop is picked up by it). */
  fetching = false;
  deleted = false;
  /** Commands fetched from this SQ that have not completed yet, by CID. */
  readonly inflight = new Map<number, Command>();
  /** Resolves a pending Delete I/O SQ once `inflight` drains. */
  drained: (() => void) | null = null;
  /** SQEs pushed with the doorbell (DOORBELL_PUSH), by slot, until fetched; allocated on the first push. */
  pushed: PushedSlots | null = null;
  /** Fetch buffer: up to SQ_FETCH_BATCH entries. */
  readonly fetchBuf: Uint8Array;
  readonly fetchView: DataView;

  constructor(
    readonly id: number,
    readonly base: number,
    readonly size: number,
    readonly cq: CompletionQueue,
  ) {
    this.fetchBuf = new Uint8Array(Math.min(size, SQ_FETCH_BATCH) * Sqe.size);
    this.fetchView = viewOf(this.fetchBuf);
  }

  /** Entries submitted but not fetched. */
  pending(): number {
    return (this.tail - this.head + this.size) % this.size;
  }
}

/** The controller's copy of pushed SQEs (like ENA LLQ device memory): one 64-byte slot per SQ entry and a flag
 *  saying the slot holds the entry the host pushed for it. A fetch takes flagged slots instead of reading guest
 *  memory, and clears the flag. */
export class PushedSlots {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly valid: Uint8Array;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size * Sqe.size);
    this.view = viewOf(this.bytes);
    this.valid = new Uint8Array(size);
  }

  /** Copy `count` entries for slots start, start+1, … (wrapping). */
  store(start: number, count: number, entries: Uint8Array): void {
    for (let i = 0, slot = start; i < count; i++, slot = slot + 1 === this.size ? 0 : slot + 1) {
      this.bytes.set(entries.subarray(i * Sqe.size, (i + 1) * Sqe.size), slot * Sqe.size);
      this.valid[slot] = 1;
    }
  }

  /** Slots from `head` (at most `max`) that hold no pushed entry: one DMA read fetches them. */
  missingRun(head: number, max: number): number {
    let n = 0;
    while (n < max && this.valid[head + n] !== 1) n++;
    return n;
  }
}

interface HeldCompletion { sqid: number; sqhd: number; cid: number; status: number; dw0: number }

export class CompletionQueue {
  head = 0;
  tail = 0;
  /** Phase tag written on the current pass; starts at 1 and flips at each wrap. */
  phase = 1;
  deleted = false;
  /** Commands that will post here (fetched, not completed): fetching stops while these would overflow the ring. */
  outstanding = 0;
  readonly sqs = new Set<SubmissionQueue>();
  readonly held: HeldCompletion[] = [];
  /** Start slot and length of the run posted to the mirror but not yet written to guest memory. */
  flushStart = 0;
  unflushed = 0;
  flushing = false;
  flushQueued = false;
  /** Interrupt coalescing: completions since the last interrupt, and the aggregation timer. */
  coalesced = 0;
  cancelTimer: (() => void) | null = null;
  /** A traced command posted here since the last interrupt (the panel follows it to the MSI-X message). */
  traced = false;
  readonly mirror: Uint8Array;
  readonly mview: DataView;

  constructor(
    readonly id: number,
    readonly base: number,
    readonly size: number,
    readonly iv: number,
    readonly ien: boolean,
  ) {
    this.mirror = new Uint8Array(size * Cqe.size);
    this.mview = viewOf(this.mirror);
  }

  /** Entries posted and not yet consumed by the host. */
  posted(): number {
    return (this.tail - this.head + this.size) % this.size;
  }

  isFull(): boolean {
    return (this.tail + 1) % this.size === this.head;
  }

  /** Free slots not promised to commands already fetched. */
  room(): number {
    return this.size - 1 - this.posted() - this.held.length - this.outstanding;
  }

  /** Write one completion into the mirror (or hold it when the ring is full). Returns whether it was placed. */
  place(sqid: number, sqhd: number, cid: number, status: number, dw0: number): boolean {
    if (this.isFull()) {
      this.held.push({ sqid, sqhd, cid, status, dw0 });
      return false;
    }
    const v = this.mview;
    const o = this.tail * Cqe.size;
    v.setUint32(o + C.dw0, dw0, true);
    v.setUint32(o + C.dw1, 0, true);
    v.setUint16(o + C.sqhd, sqhd, true);
    v.setUint16(o + C.sqid, sqid, true);
    v.setUint16(o + C.cid, cid, true);
    v.setUint16(o + C.status, status16(status, this.phase), true);
    if (this.unflushed === 0) this.flushStart = this.tail;
    this.unflushed++;
    this.tail++;
    if (this.tail === this.size) {
      this.tail = 0;
      this.phase ^= 1;
    }
    return true;
  }

  /** Move held completions into freed slots after the host advanced the head. Returns how many moved. */
  drainHeld(): number {
    let n = 0;
    while (this.held.length > 0 && !this.isFull()) {
      const h = this.held.shift()!;
      this.place(h.sqid, h.sqhd, h.cid, h.status, h.dw0);
      n++;
    }
    return n;
  }

  /** Whether `value` is a valid new head: inside [head, tail] going around the ring. */
  acceptsHead(value: number): boolean {
    if (value >= this.size) return false;
    return (value - this.head + this.size) % this.size <= this.posted();
  }
}

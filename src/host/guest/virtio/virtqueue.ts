// The driver side of a split virtqueue (virtio 1.2 §2.7; specs.md §3.7–3.8), as Linux's virtio_ring.c keeps it:
// descriptor table, avail and used rings in pages from the page allocator, a free list threaded through desc.next,
// indirect tables per head when negotiated, and EVENT_IDX (used_event / avail_event) notification suppression.
//
//   driver ──► avail: flags | idx | ring[Q] (heads) | used_event        availIdx: our shadow of avail.idx
//   device ──► used:  flags | idx | ring[Q] {id,len} | avail_event     lastUsed: next used slot we read
//
// A buffer is "in flight" from add() until its head comes back in the used ring; its token comes back with it.
import {
  AVAIL_ELEM_SIZE, AvailFlags, DescFlags, RingAlign, UsedFlags, VirtqAvail, VirtqDesc, VirtqUsed, VirtqUsedElem, ringSizes,
} from '../../../devices/virtio-net/regs.ts';
import { viewOf, writeU64Number } from '../../../devices/layout.ts';
import type { DmaBuffer, PageAllocator } from '../page-alloc.ts';

/** One piece of a buffer: guest-physical address, length, and whether the device writes it. */
export interface BufSeg {
  readonly addr: number;
  readonly len: number;
  readonly write: boolean;
}

export interface UsedBuf<T> {
  readonly token: T;
  /** Bytes the device wrote (rx). */
  readonly len: number;
}

export interface VirtqueueOptions {
  readonly index: number;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
}

/** Entries per indirect table (a chain longer than this goes direct). */
export const INDIRECT_MAX = 8;

/** Linux's vring_need_event: notify iff `event` lies in (old, new] (u16 arithmetic). */
export function vringNeedEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

const D = VirtqDesc.offset;

export class SplitVirtqueue<T> {
  readonly index: number;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Ring memory: desc table, then avail, then used (each aligned), and the indirect tables. */
  private readonly ring: DmaBuffer;
  private readonly indirectTables: DmaBuffer | undefined;
  readonly descGpa: number;
  readonly availGpa: number;
  readonly usedGpa: number;
  private readonly v: DataView;
  private readonly descOff: number;
  private readonly availOff: number;
  private readonly usedOff: number;
  private readonly tokens: (T | undefined)[];
  /** Descriptors each in-flight head holds on the free list (1 for indirect). */
  private readonly chainLen: number[];
  private freeHead = 0;
  private numFreeDescs: number;
  private availIdx = 0;
  /** avail.idx at the last kick decision. */
  private kickedIdx = 0;
  private lastUsed = 0;
  private inflight = 0;
  private cbEnabled = true;

  constructor(pages: PageAllocator, opts: VirtqueueOptions) {
    const { size } = opts;
    if (size < 1 || size > 32768 || (size & (size - 1)) !== 0) throw new RangeError(`queue size ${size} is not a power of two ≤ 32768`);
    this.index = opts.index;
    this.size = size;
    this.eventIdx = opts.eventIdx;
    this.indirect = opts.indirect;
    const s = ringSizes(size);
    const align = (n: number, a: number): number => Math.ceil(n / a) * a;
    this.descOff = 0;
    this.availOff = align(s.desc, RingAlign.avail);
    this.usedOff = align(this.availOff + s.avail, Math.max(RingAlign.used, 4));
    this.ring = pages.allocBytes(this.usedOff + s.used);
    this.indirectTables = opts.indirect ? pages.allocBytes(size * INDIRECT_MAX * VirtqDesc.size) : undefined;
    this.v = viewOf(this.ring.bytes);
    this.descGpa = this.ring.gpa + this.descOff;
    this.availGpa = this.ring.gpa + this.availOff;
    this.usedGpa = this.ring.gpa + this.usedOff;
    this.tokens = new Array<T | undefined>(size).fill(undefined);
    this.chainLen = new Array<number>(size).fill(0);
    for (let i = 0; i < size; i++) this.v.setUint16(this.descOff + i * VirtqDesc.size + D.next, (i + 1) % size, true);
    this.numFreeDescs = size;
  }

  /** Free descriptors. */
  get numFree(): number { return this.numFreeDescs; }
  /** Buffers the device holds. */
  get inFlight(): number { return this.inflight; }

  /** Give the ring pages back (after the device was reset). */
  release(pages: PageAllocator): void {
    pages.release(this.ring);
    if (this.indirectTables) pages.release(this.indirectTables);
  }

  /**
   * Expose a buffer of readable-then-writable segments. Uses an indirect table when negotiated and the chain has more
   * than one segment. Returns false (nothing changed) when there are not enough free descriptors.
   */
  add(segs: readonly BufSeg[], token: T): boolean {
    if (segs.length === 0) throw new RangeError('add: empty buffer');
    const useIndirect = this.indirect && segs.length > 1 && segs.length <= INDIRECT_MAX;
    const needed = useIndirect ? 1 : segs.length;
    if (needed > this.numFreeDescs) return false;
    const head = this.freeHead;
    if (useIndirect && this.indirectTables) {
      const tv = viewOf(this.indirectTables.bytes);
      const base = head * INDIRECT_MAX * VirtqDesc.size;
      segs.forEach((s, i) => {
        const o = base + i * VirtqDesc.size;
        writeU64Number(tv, o + D.addr, s.addr);
        tv.setUint32(o + D.len, s.len, true);
        tv.setUint16(o + D.flags, (s.write ? DescFlags.WRITE : 0) | (i + 1 < segs.length ? DescFlags.NEXT : 0), true);
        tv.setUint16(o + D.next, i + 1, true);
      });
      const o = this.descOff + head * VirtqDesc.size;
      writeU64Number(this.v, o + D.addr, this.indirectTables.gpa + base);
      this.v.setUint32(o + D.len, segs.length * VirtqDesc.size, true);
      this.v.setUint16(o + D.flags, DescFlags.INDIRECT, true);
      this.freeHead = this.v.getUint16(o + D.next, true);
    } else {
      let i = head;
      let last = head;
      segs.forEach((s, n) => {
        const o = this.descOff + i * VirtqDesc.size;
        writeU64Number(this.v, o + D.addr, s.addr);
        this.v.setUint32(o + D.len, s.len, true);
        this.v.setUint16(o + D.flags, (s.write ? DescFlags.WRITE : 0) | (n + 1 < segs.length ? DescFlags.NEXT : 0), true);
        last = i;
        i = this.v.getUint16(o + D.next, true);
      });
      this.freeHead = this.v.getUint16(this.descOff + last * VirtqDesc.size + D.next, true);
    }
    this.numFreeDescs -= needed;
    this.chainLen[head] = needed;
    this.tokens[head] = token;
    // Publish the ring entry, then (after it) the index: the device reads idx first, then the entry.
    this.v.setUint16(this.availOff + VirtqAvail.size + (this.availIdx % this.size) * AVAIL_ELEM_SIZE, head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.v.setUint16(this.availOff + VirtqAvail.offset.idx, this.availIdx, true);
    this.inflight++;
    return true;
  }

  /**
   * Should the driver kick now? With EVENT_IDX: vring_need_event(avail_event, new, old); otherwise unless the device
   * set used.flags NO_NOTIFY. Resets the batch either way.
   */
  kickPrepare(): boolean {
    const old = this.kickedIdx;
    const now = this.availIdx;
    this.kickedIdx = now;
    if (old === now) return false;
    if (this.eventIdx) {
      const availEvent = this.v.getUint16(this.usedOff + VirtqUsed.size + this.size * VirtqUsedElem.size, true);
      return vringNeedEvent(availEvent, now, old);
    }
    return (this.v.getUint16(this.usedOff + VirtqUsed.offset.flags, true) & UsedFlags.NO_NOTIFY) === 0;
  }

  /** Is there a used entry we have not taken? */
  hasUsed(): boolean {
    return this.v.getUint16(this.usedOff + VirtqUsed.offset.idx, true) !== this.lastUsed;
  }

  /**
   * Take the next used buffer and free its descriptors. A used id that is not in flight is a device bug: it throws
   * (the caller resets the device), never corrupts the free list.
   */
  getUsed(): UsedBuf<T> | undefined {
    if (!this.hasUsed()) return undefined;
    const o = this.usedOff + VirtqUsed.size + (this.lastUsed % this.size) * VirtqUsedElem.size;
    const id = this.v.getUint32(o + VirtqUsedElem.offset.id, true);
    const len = this.v.getUint32(o + VirtqUsedElem.offset.len, true);
    const token = id < this.size ? this.tokens[id] : undefined;
    if (token === undefined) throw new Error(`queue ${this.index}: used id ${id} is not in flight`);
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    this.tokens[id] = undefined;
    // Return the chain to the free list: walk `n` descriptors (1 for indirect) and link the tail to the old head.
    let n = this.chainLen[id] ?? 1;
    let last = id;
    while (--n > 0) last = this.v.getUint16(this.descOff + last * VirtqDesc.size + D.next, true);
    this.v.setUint16(this.descOff + last * VirtqDesc.size + D.next, this.freeHead, true);
    this.freeHead = id;
    this.numFreeDescs += this.chainLen[id] ?? 1;
    this.chainLen[id] = 0;
    this.inflight--;
    if (this.eventIdx && this.cbEnabled) this.setUsedEvent(this.lastUsed);
    return { token, len };
  }

  /** Stop asking for used-buffer interrupts (NAPI-style polling). */
  disableCb(): void {
    this.cbEnabled = false;
    if (!this.eventIdx) this.v.setUint16(this.availOff + VirtqAvail.offset.flags, AvailFlags.NO_INTERRUPT, true);
  }

  /**
   * Ask for an interrupt at the next used buffer (used_event = lastUsed with EVENT_IDX). Returns false when used
   * entries arrived meanwhile — the caller must poll again, as virtqueue_enable_cb's contract says.
   */
  enableCb(): boolean {
    this.cbEnabled = true;
    if (this.eventIdx) this.setUsedEvent(this.lastUsed);
    else this.v.setUint16(this.availOff + VirtqAvail.offset.flags, 0, true);
    return !this.hasUsed();
  }

  /** Every in-flight token (device reset: the buffers will never come back). */
  detachAll(): T[] {
    const out: T[] = [];
    for (const t of this.tokens) if (t !== undefined) out.push(t);
    return out;
  }

  private setUsedEvent(idx: number): void {
    this.v.setUint16(this.availOff + VirtqAvail.size + this.size * AVAIL_ELEM_SIZE, idx, true);
  }
}


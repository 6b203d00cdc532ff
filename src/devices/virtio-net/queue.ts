// Split virtqueue, device side (virtio 1.2 §2.7; specs.md §3.7–3.8): descriptor chains (NEXT/WRITE/INDIRECT), the
// avail and used rings, and EVENT_IDX notification suppression in both directions.
//
//   driver ──► avail ring: flags | idx | ring[Q] (heads) | used_event          lastAvailIdx: next slot the device reads
//   device ──► used ring:  flags | idx | ring[Q] {id,len} | avail_event        usedIdx: shadow of used.idx
//
// Every guest memory access goes through the DmaPort; every malformed structure throws RingError, which the device
// turns into DEVICE_NEEDS_RESET. Indices are u16 and wrap; Q is a power of two so `idx % Q` stays consistent.
import type { Iova } from '../brand.ts';
import type { DmaPort } from '../contract.ts';
import { readU64Number, viewOf } from '../layout.ts';
import { AVAIL_ELEM_SIZE, AvailFlags, DescFlags, VirtqAvail, VirtqDesc, VirtqUsed, VirtqUsedElem } from './regs.ts';

/** Why a ring was judged malformed; also the suffix of the log event (`virtio-ring-<reason>`). */
export type RingFaultReason =
  | 'avail-idx-jump' | 'used-idx-jump' | 'desc-index-out-of-range' | 'desc-chain-too-long' | 'desc-next-and-indirect'
  | 'desc-nested-indirect' | 'desc-indirect-not-negotiated' | 'desc-indirect-bad-length' | 'desc-addr-out-of-range'
  | 'desc-read-after-write' | 'chain-too-large' | 'queue-config-invalid' | 'dma-fault'
  | 'tx-header-short' | 'rx-buffer-short' | 'internal-error';

/** A guest's ring broke a spec rule. Carries a stable reason and the values that showed it. */
export class RingError extends Error {
  readonly reason: RingFaultReason;
  readonly detail: Readonly<Record<string, number>>;
  constructor(reason: RingFaultReason, detail: Record<string, number> = {}) {
    super(`virtqueue ${reason} ${JSON.stringify(detail)}`);
    this.name = 'RingError';
    this.reason = reason;
    this.detail = detail;
  }
}

/** The queue was reset (or bus mastering turned off) while work was in flight: stop quietly, touch nothing. */
export class QueueStopped extends Error {
  constructor() { super('virtqueue stopped'); this.name = 'QueueStopped'; }
}

/** Ring addresses and negotiated ring features, fixed at DRIVER_OK. */
export interface QueueConfig {
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
}

export interface Segment { readonly addr: number; readonly len: number }

/** One available buffer: the head index and its device-readable then device-writable parts. */
export interface DescChain {
  readonly head: number;
  readonly readable: Segment[];
  readonly writable: Segment[];
  readBytes: number;
  writeBytes: number;
}

/** Largest indirect table accepted (entries); Linux never builds more than a few dozen. */
export const MAX_INDIRECT_DESCS = 1024;
const MAX_CHAIN_BYTES = 0xffff_ffff;
const D = VirtqDesc.offset;

export class Virtqueue {
  readonly index: number;
  readonly cfg: QueueConfig;
  /** Next avail ring slot to consume (free-running u16). */
  lastAvailIdx = 0;
  /** The used.idx the device last published (free-running u16). */
  usedIdx = 0;
  private availIdx = 0;
  private live = true;
  private readonly dma: DmaPort;
  private readonly gate: () => boolean;
  private readonly pending: { id: number; len: number }[] = [];
  /** Chains popped ahead of use (prefetch), in ring order. */
  private readonly ahead: Promise<DescChain>[] = [];

  /** `gate` says whether DMA is allowed right now (Bus Master Enable); when it is not, work stops with QueueStopped. */
  constructor(index: number, cfg: QueueConfig, dma: DmaPort, gate: () => boolean = () => true) {
    this.index = index;
    this.cfg = cfg;
    this.dma = dma;
    this.gate = gate;
  }

  get alive(): boolean { return this.live; }
  /** Stop issuing DMA for good (reset, NEEDS_RESET). In-flight work ends with QueueStopped. */
  stop(): void { this.live = false; }

  /** Take the next available chain (a prefetched one first), or null if the driver has made none available. */
  async popChain(): Promise<DescChain | null> {
    const next = this.ahead.shift();
    if (next) return next;
    if (this.lastAvailIdx === this.availIdx && (await this.refreshAvailIdx()) === 0) return null;
    const slot = this.lastAvailIdx % this.cfg.size;
    const head = (await this.readU16(this.cfg.avail + VirtqAvail.size + AVAIL_ELEM_SIZE * slot));
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return this.walkChain(head);
  }

  /**
   * Take up to `max` available chains at once: one DMA read for their avail ring slots (two where the ring wraps),
   * one for the span of the descriptor table their heads fall in, then every chain walked concurrently. Over the link each DMA read is a round trip, so a batch costs
   * the same few round trips as a single chain. The elements settle in ring order; a malformed chain rejects only its
   * own element, so a caller that awaits them in order stops where a chain-at-a-time walk would have.
   */
  async popChains(max: number): Promise<Promise<DescChain>[]> {
    let count = (this.availIdx - this.lastAvailIdx) & 0xffff;
    if (count === 0) count = await this.refreshAvailIdx();
    const n = Math.min(count, max);
    if (n <= 0) return [];
    const { size, avail } = this.cfg;
    const first = this.lastAvailIdx % size;
    const run = Math.min(n, size - first);
    const slots = new Uint8Array(n * AVAIL_ELEM_SIZE);
    const base = avail + VirtqAvail.size;
    await Promise.all([
      this.read(base + AVAIL_ELEM_SIZE * first, slots.subarray(0, run * AVAIL_ELEM_SIZE)),
      ...(run < n ? [this.read(base, slots.subarray(run * AVAIL_ELEM_SIZE))] : []),
    ]);
    this.lastAvailIdx = (this.lastAvailIdx + n) & 0xffff;
    const heads = Array.from({ length: n }, (_, i) => slots[2 * i]! | (slots[2 * i + 1]! << 8));
    // The descriptors the heads name, in one DMA read of the table span they fall in (a driver publishes descriptors
    // before the avail index we read, so they are stable); a chain's later descriptors outside it are read one by one.
    let snap: { first: number; n: number; view: DataView } | undefined;
    const valid = heads.filter((h) => h < size);
    if (valid.length > 1) {
      const first = Math.min(...valid);
      const span = Math.max(...valid) - first + 1;
      const bytes = new Uint8Array(span * VirtqDesc.size);
      await this.read(this.cfg.desc + first * VirtqDesc.size, bytes);
      snap = { first, n: span, view: viewOf(bytes) };
    }
    return heads.map((head) => {
      const chain = this.walkChain(head, snap);
      chain.catch(() => {}); // a rejection belongs to whoever awaits this element; an element never awaited is no error
      return chain;
    });
  }

  /** Fetch up to `max` chains ahead (popChains); popChain hands them out in order, dropAhead gives back the rest. */
  async prefetch(max: number): Promise<void> {
    this.ahead.push(...await this.popChains(max - this.ahead.length));
  }

  /** Give back the prefetched chains nobody took (they return to the avail ring, to be walked again later). */
  dropAhead(): void {
    this.lastAvailIdx = (this.lastAvailIdx - this.ahead.length) & 0xffff;
    this.ahead.length = 0;
  }

  /** Give back the last `n` popped chains unused (they were not put in the used ring), and any prefetched ones. */
  rewind(n: number): void {
    this.dropAhead();
    this.lastAvailIdx = (this.lastAvailIdx - n) & 0xffff;
  }

  /** Queue a used element; `flushUsed` publishes the batch. */
  addUsed(head: number, len: number): void {
    this.pending.push({ id: head, len });
  }

  /**
   * Write the pending used elements, then the new used.idx, and say whether the driver wants an interrupt
   * (EVENT_IDX: vring_need_event on used_event; otherwise avail.flags NO_INTERRUPT).
   */
  async flushUsed(): Promise<boolean> {
    const n = this.pending.length;
    if (n === 0) return false;
    const { size, used } = this.cfg;
    const seen = await this.readU16(used + VirtqUsed.offset.idx);
    if (seen !== this.usedIdx) throw new RingError('used-idx-jump', { queue: this.index, expected: this.usedIdx, found: seen });
    const E = VirtqUsedElem;
    let i = 0;
    while (i < n) {
      // One DMA write per run of slots that does not wrap past the end of the ring.
      const first = (this.usedIdx + i) % size;
      const run = Math.min(n - i, size - first);
      const buf = new Uint8Array(run * E.size);
      const v = viewOf(buf);
      for (let k = 0; k < run; k++) {
        const el = this.pending[i + k];
        if (!el) break;
        v.setUint32(k * E.size + E.offset.id, el.id, true);
        v.setUint32(k * E.size + E.offset.len, el.len, true);
      }
      await this.write(used + VirtqUsed.size + E.size * first, buf);
      i += run;
    }
    this.pending.length = 0;
    const old = this.usedIdx;
    this.usedIdx = (old + n) & 0xffff;
    await this.writeU16(used + VirtqUsed.offset.idx, this.usedIdx);
    if (this.cfg.eventIdx) {
      const usedEvent = await this.readU16(this.cfg.avail + VirtqAvail.size + AVAIL_ELEM_SIZE * size);
      return needEvent(usedEvent, this.usedIdx, old);
    }
    const flags = await this.readU16(this.cfg.avail + VirtqAvail.offset.flags);
    return (flags & AvailFlags.NO_INTERRUPT) === 0;
  }

  /**
   * With EVENT_IDX, ask for a kick at the next buffer (avail_event = lastAvailIdx), then look again so a buffer
   * added meanwhile is not missed. Returns true if buffers are available.
   */
  async enableNotification(): Promise<boolean> {
    if (this.cfg.eventIdx) {
      await this.writeU16(this.cfg.used + VirtqUsed.size + VirtqUsedElem.size * this.cfg.size, this.lastAvailIdx);
    }
    return (await this.refreshAvailIdx()) > 0;
  }

  /** Copy a chain's readable part into `dst` (which must be `readBytes` long); the segments are read concurrently. */
  async readChain(chain: DescChain, dst: Uint8Array): Promise<void> {
    let at = 0;
    const reads: Promise<void>[] = [];
    for (const s of chain.readable) {
      if (s.len === 0) continue;
      reads.push(this.read(s.addr, dst.subarray(at, at + s.len)));
      at += s.len;
    }
    await Promise.all(reads);
  }

  /** Scatter `src` into a chain's writable part; returns the bytes written (≤ writeBytes). */
  async writeChain(chain: DescChain, src: Uint8Array): Promise<number> {
    let at = 0;
    for (const s of chain.writable) {
      if (at >= src.length) break;
      const n = Math.min(s.len, src.length - at);
      if (n === 0) continue;
      await this.write(s.addr, src.subarray(at, at + n));
      at += n;
    }
    return at;
  }

  private async refreshAvailIdx(): Promise<number> {
    const idx = await this.readU16(this.cfg.avail + VirtqAvail.offset.idx);
    const count = (idx - this.lastAvailIdx) & 0xffff;
    if (count > this.cfg.size) {
      throw new RingError('avail-idx-jump', { queue: this.index, lastAvail: this.lastAvailIdx, availIdx: idx, size: this.cfg.size });
    }
    this.availIdx = idx;
    return count;
  }

  /** `snap`: descriptors [first, first + n) of the table, read once for a batch (popChains); others are read by DMA. */
  private async walkChain(head: number, snap?: { first: number; n: number; view: DataView }): Promise<DescChain> {
    const chain: DescChain = { head, readable: [], writable: [], readBytes: 0, writeBytes: 0 };
    const q = this.index;
    if (head >= this.cfg.size) throw new RingError('desc-index-out-of-range', { queue: q, index: head, size: this.cfg.size });
    const desc = new Uint8Array(VirtqDesc.size);
    const dv = viewOf(desc);
    let table: DataView | null = null; // the indirect table, once the chain enters one
    let count = this.cfg.size;
    let idx = head;
    let steps = 0;
    for (;;) {
      if (++steps > count) throw new RingError('desc-chain-too-long', { queue: q, head, limit: count });
      let v: DataView;
      let base: number;
      if (table) { v = table; base = idx * VirtqDesc.size; } else if (snap && idx >= snap.first && idx < snap.first + snap.n) {
        if (!this.live || !this.gate()) throw new QueueStopped();
        v = snap.view; base = (idx - snap.first) * VirtqDesc.size;
      } else {
        await this.read(this.cfg.desc + idx * VirtqDesc.size, desc);
        v = dv; base = 0;
      }
      const addr = readU64Number(v, base + D.addr);
      const len = v.getUint32(base + D.len, true);
      const flags = v.getUint16(base + D.flags, true);
      if (addr < 0 || addr + len > Number.MAX_SAFE_INTEGER) throw new RingError('desc-addr-out-of-range', { queue: q, head, index: idx });
      if (flags & DescFlags.INDIRECT) {
        if (table) throw new RingError('desc-nested-indirect', { queue: q, head, index: idx });
        if (!this.cfg.indirect) throw new RingError('desc-indirect-not-negotiated', { queue: q, head, index: idx });
        if (flags & DescFlags.NEXT) throw new RingError('desc-next-and-indirect', { queue: q, head, index: idx });
        if (len === 0 || len % VirtqDesc.size !== 0 || len / VirtqDesc.size > MAX_INDIRECT_DESCS) {
          throw new RingError('desc-indirect-bad-length', { queue: q, head, len });
        }
        const bytes = new Uint8Array(len);
        await this.read(addr, bytes);
        table = viewOf(bytes);
        count = len / VirtqDesc.size;
        idx = 0;
        steps = 0;
        continue;
      }
      if (flags & DescFlags.WRITE) {
        chain.writable.push({ addr, len });
        chain.writeBytes += len;
      } else {
        if (chain.writable.length > 0) throw new RingError('desc-read-after-write', { queue: q, head, index: idx });
        chain.readable.push({ addr, len });
        chain.readBytes += len;
      }
      if (chain.readBytes + chain.writeBytes > MAX_CHAIN_BYTES) throw new RingError('chain-too-large', { queue: q, head });
      if (!(flags & DescFlags.NEXT)) return chain;
      idx = v.getUint16(base + D.next, true);
      if (idx >= count) throw new RingError('desc-index-out-of-range', { queue: q, head, index: idx, size: count });
    }
  }

  private async readU16(addr: number): Promise<number> {
    const b = new Uint8Array(2);
    await this.read(addr, b);
    return b[0]! | (b[1]! << 8);
  }

  private async writeU16(addr: number, value: number): Promise<void> {
    await this.write(addr, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff));
  }

  private async read(addr: number, dst: Uint8Array): Promise<void> {
    if (!this.live || !this.gate()) throw new QueueStopped();
    await this.dma.read(addr as Iova, dst);
  }

  private async write(addr: number, src: Uint8Array): Promise<void> {
    if (!this.live || !this.gate()) throw new QueueStopped();
    await this.dma.write(addr as Iova, src);
  }
}

/** Linux's vring_need_event: interrupt iff used_event lies in (old, new]. All u16 arithmetic. */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

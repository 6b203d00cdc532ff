// Driver side of a split virtqueue in guest memory (Firecracker's virtio test helper is the model): lay out the three
// ring parts, write descriptors and chains (also malformed ones), publish heads in the avail ring, read the used ring.
// Used by the conformance suite's virtio host and by the device unit tests (test/helpers/virtq.ts re-exports it).
// Layouts come from the production structures in src/devices/virtio-net/regs.ts.
import { readU64Number, writeU64Number } from '../devices/layout.ts';
import {
  AVAIL_ELEM_SIZE, DescFlags, ringSizes, VirtqAvail, VirtqDesc, VirtqUsed, VirtqUsedElem,
} from '../devices/virtio-net/regs.ts';

/** Guest RAM as bytes and a little-endian view over the same memory (FakeHost, the suite's guest RAM). */
export interface GuestMemory { readonly mem: Uint8Array; readonly view: DataView }

export interface DescSpec { addr: number; len: number; flags?: number; next?: number }

/** One buffer of a chain: bytes to place (device-readable), or a length to reserve (device-writable if `write`). */
export interface SegSpec { data?: Uint8Array; len?: number; write?: boolean }

/** A chain as built: its head and where each segment's buffer lives. */
export interface BuiltChain { head: number; bufs: { addr: number; len: number }[] }

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export class GuestVirtq {
  readonly host: GuestMemory;
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** First byte after the rings. */
  readonly end: number;
  private nextDesc = 0;
  private dataAt: number;
  private readonly dataEnd: number;

  /** Rings at `base` (16-aligned); data buffers bump-allocated from [dataBase, dataBase + dataSize). */
  constructor(host: GuestMemory, base: number, size: number, dataBase: number, dataSize = 0x10000) {
    this.host = host;
    this.size = size;
    const s = ringSizes(size);
    this.desc = base;
    this.avail = base + s.desc;
    this.used = align(this.avail + s.avail, 4);
    this.end = this.used + s.used;
    this.host.mem.fill(0, base, this.end);
    this.dataAt = dataBase;
    this.dataEnd = dataBase + dataSize;
  }

  // Raw ring access

  setDesc(i: number, d: DescSpec): void {
    const at = this.desc + i * VirtqDesc.size;
    writeDesc(this.host.view, at, d);
  }

  getDesc(i: number): Required<DescSpec> {
    const v = this.host.view;
    const at = this.desc + i * VirtqDesc.size;
    const o = VirtqDesc.offset;
    return { addr: readU64Number(v, at + o.addr), len: v.getUint32(at + o.len, true), flags: v.getUint16(at + o.flags, true), next: v.getUint16(at + o.next, true) };
  }

  get availIdx(): number { return this.host.view.getUint16(this.avail + VirtqAvail.offset.idx, true); }
  set availIdx(n: number) { this.host.view.setUint16(this.avail + VirtqAvail.offset.idx, n & 0xffff, true); }
  set availFlags(f: number) { this.host.view.setUint16(this.avail + VirtqAvail.offset.flags, f, true); }
  set usedEvent(n: number) { this.host.view.setUint16(this.avail + VirtqAvail.size + AVAIL_ELEM_SIZE * this.size, n & 0xffff, true); }

  get usedIdx(): number { return this.host.view.getUint16(this.used + VirtqUsed.offset.idx, true); }
  set usedIdx(n: number) { this.host.view.setUint16(this.used + VirtqUsed.offset.idx, n & 0xffff, true); }
  get availEvent(): number { return this.host.view.getUint16(this.used + VirtqUsed.size + VirtqUsedElem.size * this.size, true); }

  /** Used ring entry for the n-th completion (free-running index). */
  usedElem(n: number): { id: number; len: number } {
    const at = this.used + VirtqUsed.size + VirtqUsedElem.size * (n % this.size);
    return { id: this.host.view.getUint32(at + VirtqUsedElem.offset.id, true), len: this.host.view.getUint32(at + VirtqUsedElem.offset.len, true) };
  }

  /** Put `head` in the next avail slot and bump avail.idx (the driver's publish step). */
  publish(head: number): void {
    const idx = this.availIdx;
    this.host.view.setUint16(this.avail + VirtqAvail.size + AVAIL_ELEM_SIZE * (idx % this.size), head, true);
    this.availIdx = idx + 1;
  }

  // Chains

  /** Reserve `len` bytes of data memory (8-aligned), optionally filled. */
  alloc(len: number, data?: Uint8Array): number {
    const at = this.dataAt;
    this.dataAt = align(at + Math.max(len, 1), 8);
    if (this.dataAt > this.dataEnd) throw new Error('GuestVirtq: data region exhausted');
    this.host.mem.fill(0, at, at + len);
    if (data) this.host.mem.set(data, at);
    return at;
  }

  /** Write a chain into the descriptor table (consecutive free slots, wrapping) and return its head. */
  chain(segs: readonly SegSpec[]): BuiltChain {
    const idxs = segs.map(() => this.takeDesc());
    const bufs = segs.map((s, k) => {
      const len = s.data?.length ?? s.len ?? 0;
      const addr = this.alloc(len, s.data);
      const next = idxs[k + 1];
      this.setDesc(idxs[k]!, { addr, len, flags: (s.write ? DescFlags.WRITE : 0) | (next !== undefined ? DescFlags.NEXT : 0), next: next ?? 0 });
      return { addr, len };
    });
    return { head: idxs[0]!, bufs };
  }

  /** Write the segments as an indirect table in data memory, pointed to by one ring descriptor. */
  indirectChain(segs: readonly SegSpec[]): BuiltChain {
    const table = this.alloc(segs.length * VirtqDesc.size);
    const bufs = segs.map((s, k) => {
      const len = s.data?.length ?? s.len ?? 0;
      const addr = this.alloc(len, s.data);
      const last = k === segs.length - 1;
      writeDesc(this.host.view, table + k * VirtqDesc.size, { addr, len, flags: (s.write ? DescFlags.WRITE : 0) | (last ? 0 : DescFlags.NEXT), next: last ? 0 : k + 1 });
      return { addr, len };
    });
    const head = this.takeDesc();
    this.setDesc(head, { addr: table, len: segs.length * VirtqDesc.size, flags: DescFlags.INDIRECT });
    return { head, bufs };
  }

  /** Build a chain and publish it. */
  post(segs: readonly SegSpec[]): BuiltChain {
    const c = this.chain(segs);
    this.publish(c.head);
    return c;
  }

  /** Bytes of a buffer in guest memory. */
  bytes(addr: number, len: number): Uint8Array {
    return this.host.mem.slice(addr, addr + len);
  }

  private takeDesc(): number {
    const i = this.nextDesc;
    this.nextDesc = (this.nextDesc + 1) % this.size;
    return i;
  }
}

export function writeDesc(v: DataView, at: number, d: DescSpec): void {
  const o = VirtqDesc.offset;
  writeU64Number(v, at + o.addr, d.addr);
  v.setUint32(at + o.len, d.len >>> 0, true);
  v.setUint16(at + o.flags, d.flags ?? 0, true);
  v.setUint16(at + o.next, d.next ?? 0, true);
}

// Physical page allocator over guest RAM: 4 KiB pages, low memory reserved (as on a PC, below 1 MiB), contiguous
// runs for queues and DMA buffers. The only source of device-visible memory in the guest.
import { gpa, type Gpa } from '../../devices/brand.ts';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** Below this address nothing is handed out (real-mode area, BIOS data, legacy holes). */
export const LOW_RESERVED_BYTES = 1 << 20;

/** A run of contiguous pages, with a view of its bytes in guest RAM. */
export interface DmaBuffer {
  readonly gpa: Gpa;
  readonly pages: number;
  /** `pages * PAGE_SIZE` bytes of guest RAM at `gpa` (no copy). */
  readonly bytes: Uint8Array;
}

export class OutOfMemoryError extends Error {
  constructor(pages: number, free: number) {
    super(`out of memory: need ${pages} contiguous pages, ${free} free`);
    this.name = 'OutOfMemoryError';
  }
}

export class PageAllocator {
  readonly mem: Uint8Array;
  readonly totalPages: number;
  readonly firstPage: number;
  /** 1 = in use. */
  private readonly used: Uint8Array;
  private free: number;
  /** Next-fit hint: where the last search ended. */
  private hint: number;

  constructor(mem: Uint8Array, reserveLowBytes = LOW_RESERVED_BYTES) {
    this.mem = mem;
    this.totalPages = Math.floor(mem.length / PAGE_SIZE);
    this.firstPage = Math.min(this.totalPages, Math.ceil(reserveLowBytes / PAGE_SIZE));
    this.used = new Uint8Array(this.totalPages);
    this.used.fill(1, 0, this.firstPage);
    this.free = this.totalPages - this.firstPage;
    this.hint = this.firstPage;
  }

  get freePages(): number { return this.free; }

  /** Allocate `n` contiguous zeroed pages; throws OutOfMemoryError when no run is long enough. */
  alloc(n = 1): DmaBuffer {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`page count ${n} must be a positive integer`);
    const start = this.findRun(n);
    if (start < 0) throw new OutOfMemoryError(n, this.free);
    this.used.fill(1, start, start + n);
    this.free -= n;
    this.hint = start + n;
    const addr = start * PAGE_SIZE;
    const bytes = this.mem.subarray(addr, addr + n * PAGE_SIZE);
    bytes.fill(0);
    return { gpa: gpa(addr), pages: n, bytes };
  }

  /** Allocate enough pages for `byteLength` bytes. */
  allocBytes(byteLength: number): DmaBuffer {
    return this.alloc(Math.max(1, Math.ceil(byteLength / PAGE_SIZE)));
  }

  /** Return a buffer. Freeing a page that is not in use is a kernel bug and throws. */
  release(buf: DmaBuffer): void {
    const start = buf.gpa / PAGE_SIZE;
    if (!Number.isInteger(start) || start < this.firstPage || start + buf.pages > this.totalPages) {
      throw new Error(`release of 0x${buf.gpa.toString(16)} (+${buf.pages} pages) outside the allocator`);
    }
    for (let p = start; p < start + buf.pages; p++) {
      if (this.used[p] !== 1) throw new Error(`double free of page 0x${(p * PAGE_SIZE).toString(16)}`);
      this.used[p] = 0;
    }
    this.free += buf.pages;
  }

  /** Is the guest-physical range [addr, addr+len) inside pages this allocator handed out? */
  owns(addr: number, len: number): boolean {
    if (len <= 0 || addr < this.firstPage * PAGE_SIZE || addr + len > this.totalPages * PAGE_SIZE) return false;
    for (let p = Math.floor(addr / PAGE_SIZE); p <= Math.floor((addr + len - 1) / PAGE_SIZE); p++) {
      if (this.used[p] !== 1) return false;
    }
    return true;
  }

  private findRun(n: number): number {
    const search = (from: number, to: number): number => {
      let run = 0;
      for (let p = from; p < to; p++) {
        if (this.used[p] === 0) {
          run++;
          if (run === n) return p - n + 1;
        } else {
          run = 0;
        }
      }
      return -1;
    };
    const a = search(this.hint, this.totalPages);
    return a >= 0 ? a : search(this.firstPage, this.totalPages);
  }
}

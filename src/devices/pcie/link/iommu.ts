// DMA windows of one PCI function (docs/link-protocol.md §7): the host's IOMMU translation table, and the card's copy
// of it for shared-memory DMA. A window maps [iova, iova+size) to [gpa, gpa+size) of one guest memory region.

export interface DmaWindow {
  readonly iova: number;
  readonly size: number;
  readonly gpa: number;
  readonly write: boolean;
  /** Guest memory region the window lives in (host-assigned id, shared with the card over shm). */
  readonly memId: number;
}

export type WindowFault = 'unmapped' | 'permission';

/** Called per contiguous piece of a translated range: `gpa` in window `w`, `at` = offset into the caller's buffer. */
export type SegmentVisitor = (w: DmaWindow, gpa: number, at: number, n: number) => void;

export class WindowTable {
  /** Sorted by iova, non-overlapping. */
  private readonly list: DmaWindow[] = [];

  get size(): number { return this.list.length; }
  windows(): readonly DmaWindow[] { return this.list; }
  clear(): void { this.list.length = 0; }

  /** Add a window; returns false if it overlaps an existing one (EEXIST). */
  map(w: DmaWindow): boolean {
    if (w.size <= 0) return false;
    const i = this.upperBound(w.iova);
    const prev = this.list[i - 1];
    const next = this.list[i];
    if (prev !== undefined && prev.iova + prev.size > w.iova) return false;
    if (next !== undefined && w.iova + w.size > next.iova) return false;
    this.list.splice(i, 0, w);
    return true;
  }

  /** Remove the window that exactly matches [iova, iova+size); returns it, or undefined (ENOENT). */
  unmap(iova: number, size: number): DmaWindow | undefined {
    const i = this.upperBound(iova) - 1;
    const w = this.list[i];
    if (w === undefined || w.iova !== iova || w.size !== size) return undefined;
    this.list.splice(i, 1);
    return w;
  }

  /**
   * Walk [iova, iova+len) through the windows. Without `visit` it only checks; with it, it reports each piece.
   * Returns the fault for the first byte not covered (or not writable), or null when the whole range is mapped.
   * A range may cross adjacent windows (their gpas need not be contiguous).
   */
  walk(iova: number, len: number, write: boolean, visit?: SegmentVisitor): WindowFault | null {
    let at = 0;
    let i = this.upperBound(iova) - 1;
    while (at < len) {
      const w = this.list[i];
      const cur = iova + at;
      if (w === undefined || cur < w.iova || cur >= w.iova + w.size) return 'unmapped';
      if (write && !w.write) return 'permission';
      const n = Math.min(len - at, w.iova + w.size - cur);
      visit?.(w, w.gpa + (cur - w.iova), at, n);
      at += n;
      i++;
    }
    return null;
  }

  /** Index of the first window with iova > x. */
  private upperBound(x: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.list[mid] as DmaWindow).iova <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

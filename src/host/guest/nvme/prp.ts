// PRP construction (specs.md §2.7): PRP1 may start mid-page; two pages use PRP2 directly; more use a PRP list whose
// last slot chains to the next list page when the entries do not fit in one page.
import { writeU64Number } from '../../../devices/layout.ts';
import { PAGE_SIZE, type DmaBuffer } from '../page-alloc.ts';

export interface Prps {
  readonly prp1: number;
  readonly prp2: number;
  /** List pages allocated for this command; the caller frees them when the command completes. */
  readonly listPages: DmaBuffer[];
}

const ENTRIES_PER_PAGE = PAGE_SIZE / 8;

/** Number of memory pages a transfer of `len` bytes at `addr` touches. */
export function pagesSpanned(addr: number, len: number): number {
  if (len <= 0) return 0;
  return Math.ceil(((addr % PAGE_SIZE) + len) / PAGE_SIZE);
}

/** Number of PRP list pages a transfer needs (0 when PRP1/PRP2 suffice). */
export function listPagesNeeded(addr: number, len: number): number {
  const entries = pagesSpanned(addr, len) - 1;
  if (entries <= 1) return 0;
  // Each list page but the last holds ENTRIES_PER_PAGE − 1 entries plus a chain pointer.
  return Math.max(1, Math.ceil((entries - 1) / (ENTRIES_PER_PAGE - 1)));
}

/**
 * PRPs for a physically contiguous buffer at guest-physical `addr` of `len` bytes.
 * `allocListPage` supplies zeroed pages for PRP lists.
 */
export function buildPrps(addr: number, len: number, allocListPage: () => DmaBuffer): Prps {
  if (len <= 0) return { prp1: 0, prp2: 0, listPages: [] };
  if (addr % 4 !== 0) throw new RangeError(`PRP1 0x${addr.toString(16)} is not dword-aligned`);
  const pages = pagesSpanned(addr, len);
  const firstPage = addr - (addr % PAGE_SIZE);
  if (pages === 1) return { prp1: addr, prp2: 0, listPages: [] };
  if (pages === 2) return { prp1: addr, prp2: firstPage + PAGE_SIZE, listPages: [] };
  const listPages: DmaBuffer[] = [];
  let list = allocListPage();
  listPages.push(list);
  let view = new DataView(list.bytes.buffer, list.bytes.byteOffset, PAGE_SIZE);
  let slot = 0;
  const remaining = pages - 1;
  for (let i = 1; i <= remaining; i++) {
    const isLastEntry = i === remaining;
    if (slot === ENTRIES_PER_PAGE - 1 && !isLastEntry) {
      const next = allocListPage();
      listPages.push(next);
      writeU64Number(view, slot * 8, next.gpa);
      list = next;
      view = new DataView(list.bytes.buffer, list.bytes.byteOffset, PAGE_SIZE);
      slot = 0;
    }
    writeU64Number(view, slot * 8, firstPage + i * PAGE_SIZE);
    slot++;
  }
  return { prp1: addr, prp2: listPages[0]?.gpa ?? 0, listPages };
}

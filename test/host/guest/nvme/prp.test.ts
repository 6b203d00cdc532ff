// PRP construction (specs.md §2.7): one page, two pages, a list, and a chained list.
import t from 'tap';
import { PageAllocator, PAGE_SIZE } from '../../../../src/host/guest/page-alloc.ts';
import { buildPrps, listPagesNeeded, pagesSpanned } from '../../../../src/host/guest/nvme/prp.ts';
import { readU64Number, viewOf } from '../../../../src/devices/layout.ts';

const mem = new Uint8Array(16 << 20);
const pages = new PageAllocator(mem);
const listPage = () => pages.alloc(1);

t.test('a transfer inside one page uses PRP1 only', async (t) => {
  t.same(buildPrps(0x200100, 512, listPage), { prp1: 0x200100, prp2: 0, listPages: [] });
});

t.test('a transfer over two pages puts the second page in PRP2', async (t) => {
  const p = buildPrps(0x200800, 4096, listPage);
  t.equal(p.prp1, 0x200800);
  t.equal(p.prp2, 0x201000);
  t.equal(p.listPages.length, 0);
});

t.test('three or more pages use a PRP list of page-aligned entries', async (t) => {
  const p = buildPrps(0x300000, 4 * PAGE_SIZE, listPage);
  t.equal(p.listPages.length, 1);
  const list = p.listPages[0]!;
  t.equal(p.prp2, list.gpa);
  const v = viewOf(list.bytes);
  t.same([0, 8, 16].map((o) => readU64Number(v, o)), [0x301000, 0x302000, 0x303000]);
  t.equal(readU64Number(v, 24), 0);
});

t.test('more entries than a page holds chain through the last slot', async (t) => {
  const len = 600 * PAGE_SIZE;
  t.equal(pagesSpanned(0x400000, len), 600);
  t.equal(listPagesNeeded(0x400000, len), 2);
  const p = buildPrps(0x400000, len, listPage);
  t.equal(p.listPages.length, 2);
  const first = viewOf(p.listPages[0]!.bytes);
  t.equal(readU64Number(first, 510 * 8), 0x400000 + 511 * PAGE_SIZE);
  t.equal(readU64Number(first, 511 * 8), p.listPages[1]!.gpa, 'last slot points at the next list page');
  const second = viewOf(p.listPages[1]!.bytes);
  t.equal(readU64Number(second, 0), 0x400000 + 512 * PAGE_SIZE);
  t.equal(readU64Number(second, (599 - 512) * 8), 0x400000 + 599 * PAGE_SIZE);
});

t.test('exactly 513 pages fit one list page (512 entries, no chain)', async (t) => {
  t.equal(listPagesNeeded(0x400000, 513 * PAGE_SIZE), 1);
});

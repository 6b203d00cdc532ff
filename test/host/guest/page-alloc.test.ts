// Physical page allocator: low memory reserved, contiguous runs, zeroing, double free caught.
import t from 'tap';
import { OutOfMemoryError, PAGE_SIZE, PageAllocator } from '../../../src/host/guest/page-alloc.ts';

t.test('never hands out the reserved low megabyte and returns zeroed contiguous pages', async (t) => {
  const mem = new Uint8Array(2 << 20).fill(0xaa);
  const a = new PageAllocator(mem);
  const b = a.alloc(3);
  t.ok(b.gpa >= 1 << 20);
  t.equal(b.gpa % PAGE_SIZE, 0);
  t.equal(b.bytes.length, 3 * PAGE_SIZE);
  t.ok(b.bytes.every((x) => x === 0));
  t.equal(a.freePages, 256 - 3);
  t.ok(a.owns(b.gpa + 10, 100));
  a.release(b);
  t.equal(a.freePages, 256);
  t.notOk(a.owns(b.gpa, 1));
});

t.test('a run that does not fit throws OutOfMemoryError; freed space is found again', async (t) => {
  const a = new PageAllocator(new Uint8Array(1 << 20), 0);
  const all = a.alloc(256);
  t.throws(() => a.alloc(1), OutOfMemoryError);
  a.release(all);
  t.equal(a.alloc(256).pages, 256);
});

t.test('releasing a page twice is a kernel bug and throws', async (t) => {
  const a = new PageAllocator(new Uint8Array(2 << 20));
  const b = a.alloc(1);
  a.release(b);
  t.throws(() => a.release(b), /double free/);
});

// WindowTable: map/unmap rules and range walks across windows.
import t from 'tap';
import { WindowTable } from '../../../../src/devices/pcie/link/iommu.ts';

const w = (iova: number, size: number, gpa: number, write = true) => ({ iova, size, gpa, write, memId: 1 });

t.test('overlapping or empty windows are refused; unmap needs an exact match', async (t) => {
  const tb = new WindowTable();
  t.ok(tb.map(w(0x1000, 0x1000, 0)));
  t.notOk(tb.map(w(0x1800, 0x1000, 0)));
  t.notOk(tb.map(w(0x0800, 0x1000, 0)));
  t.notOk(tb.map(w(0x5000, 0, 0)));
  t.ok(tb.map(w(0x2000, 0x1000, 0x9000)));
  t.equal(tb.unmap(0x1000, 0x800), undefined);
  t.equal(tb.unmap(0x1000, 0x1000)?.gpa, 0);
  t.same(tb.windows().map((x) => x.iova), [0x2000]);
});

t.test('a walk reports each piece with its gpa and buffer offset, across adjacent windows', async (t) => {
  const tb = new WindowTable();
  tb.map(w(0x2000, 0x1000, 0x9000));
  tb.map(w(0x1000, 0x1000, 0x4000));
  const pieces: [number, number, number][] = [];
  t.equal(tb.walk(0x1ff0, 0x20, false, (_w, gpa, at, n) => pieces.push([gpa, at, n])), null);
  t.same(pieces, [[0x4ff0, 0, 0x10], [0x9000, 0x10, 0x10]]);
});

t.test('a gap, an unmapped tail or a write to a read-only window is a fault', async (t) => {
  const tb = new WindowTable();
  tb.map(w(0x1000, 0x1000, 0));
  tb.map(w(0x3000, 0x1000, 0, false));
  t.equal(tb.walk(0x1f00, 0x200, false), 'unmapped');
  t.equal(tb.walk(0x0, 4, false), 'unmapped');
  t.equal(tb.walk(0x3000, 4, true), 'permission');
  t.equal(tb.walk(0x3000, 4, false), null);
});

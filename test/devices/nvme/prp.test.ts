// PRP resolution (specs.md §2.7) against fake guest memory: segments, merging, lists, chaining, faults.
import t from 'tap';
import { FakeHost } from '../../helpers/fake-host.ts';
import { Command } from '../../../src/devices/nvme/command.ts';
import { copyFromHost, copyToHost, mapPrps } from '../../../src/devices/nvme/prp.ts';
import { DNR, Sc } from '../../../src/devices/nvme/status.ts';

const PS = 4096;
function setup(prp1: number, prp2 = 0) {
  const host = new FakeHost(1 << 22);
  const cmd = new Command();
  cmd.prp1 = prp1;
  cmd.prp2 = prp2;
  const u64 = (addr: number, v: number) => { host.view.setUint32(addr, v, true); host.view.setUint32(addr + 4, 0, true); };
  return { host, cmd, ctx: { dma: host.dma, pageSize: PS }, u64 };
}
const segs = (cmd: Command) => Array.from({ length: cmd.segCount }, (_, i) => [cmd.segAddr[i], cmd.segLen[i]]);

t.test('one page: PRP2 ignored; two pages: PRP2 is the second page', async (t) => {
  const a = setup(0x10100, 0xdead);
  t.equal(await mapPrps(a.ctx, a.cmd, 0x100), Sc.SUCCESS);
  t.same(segs(a.cmd), [[0x10100, 0x100]]);
  const b = setup(0x10800, 0x30000);
  t.equal(await mapPrps(b.ctx, b.cmd, 0x1000), Sc.SUCCESS);
  t.same(segs(b.cmd), [[0x10800, 0x800], [0x30000, 0x800]]);
});

t.test('contiguous pages merge into one segment (one DMA per run)', async (t) => {
  const s = setup(0x10000, 0x80000);
  [0x11000, 0x12000, 0x40000].forEach((p, i) => s.u64(0x80000 + i * 8, p));
  t.equal(await mapPrps(s.ctx, s.cmd, 4 * PS), Sc.SUCCESS);
  t.same(segs(s.cmd), [[0x10000, 3 * PS], [0x40000, PS]]);
});

t.test('a chained list: the last slot of a full list page points to the next list page', async (t) => {
  const s = setup(0x100000, 0x80000 + PS - 16); // two slots left: one data entry + chain pointer
  s.u64(0x80000 + PS - 16, 0x200000);
  s.u64(0x80000 + PS - 8, 0x90000);
  s.u64(0x90000, 0x300000);
  s.u64(0x90008, 0x400000 - PS);
  t.equal(await mapPrps(s.ctx, s.cmd, 4 * PS), Sc.SUCCESS);
  t.same(segs(s.cmd), [[0x100000, PS], [0x200000, PS], [0x300000, PS], [0x400000 - PS, PS]]);
});

t.test('invalid offsets and unmapped list pages', async (t) => {
  const a = setup(0x10001);
  t.equal(await mapPrps(a.ctx, a.cmd, 8), Sc.PRP_OFFSET_INVALID | DNR);
  const b = setup(0x10000, 0x80004);
  t.equal(await mapPrps(b.ctx, b.cmd, 3 * PS), Sc.PRP_OFFSET_INVALID | DNR);
  const c = setup(0x10000, 0x3ff000);
  c.host.unmapAll();
  c.host.map(0, 0x100000);
  t.equal(await mapPrps(c.ctx, c.cmd, 3 * PS), Sc.DATA_TRANSFER_ERROR);
  const d = setup(-1);
  t.equal(await mapPrps(d.ctx, d.cmd, 8), Sc.DATA_TRANSFER_ERROR, 'an address beyond 2^53');
});

t.test('copies follow the segments both ways and report faults', async (t) => {
  const s = setup(0x10800, 0x30000);
  await mapPrps(s.ctx, s.cmd, PS);
  const src = Uint8Array.from({ length: PS }, (_, i) => i & 0xff);
  t.equal(await copyToHost(s.host.dma, s.cmd, src), Sc.SUCCESS);
  t.same(s.host.mem.subarray(0x30000, 0x30800), src.subarray(0x800));
  const back = new Uint8Array(PS);
  t.equal(await copyFromHost(s.host.dma, s.cmd, back), Sc.SUCCESS);
  t.same(back, src);
  s.host.unmapAll();
  t.equal(await copyToHost(s.host.dma, s.cmd, src), Sc.DATA_TRANSFER_ERROR);
  t.equal(await copyFromHost(s.host.dma, s.cmd, back), Sc.DATA_TRANSFER_ERROR);
});

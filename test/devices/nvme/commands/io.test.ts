// NVME-NVM: Read/Write/Flush/Write Zeroes/DSM through the stand-in backend, PRP layouts, LBA range, MDTS, and the
// mapping of DMA and backend failures to status codes.
import t from 'tap';
import { TestDriver, DATA } from '../driver.ts';
import { AdminOpc, Fid, IoOpc } from '../../../../src/devices/nvme/regs.ts';

const PAGE = 4096;
const LIST = DATA + 0x100000; // PRP list pages live here

function writeU64(d: TestDriver, addr: number, v: number): void {
  d.host.view.setUint32(addr, v >>> 0, true);
  d.host.view.setUint32(addr + 4, Math.floor(v / 2 ** 32), true);
}

t.test('Write then Read round-trips data through PRP1 (one page, mid-page offset)', async (t) => {
  const d = new TestDriver();
  await d.ready();
  const src = d.fill(DATA + 0x200, 1024, 7).slice();
  const w = await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA + 0x200, cdw10: 10, cdw12: 1 }), d.next(1));
  t.equal(w.st, 1);
  t.same(d.backend.data.subarray(10 * 512, 12 * 512), src);
  d.host.mem.fill(0, DATA + 0x200, DATA + 0x600);
  const r = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA + 0x200, cdw10: 10, cdw12: 1 }), d.next(1));
  t.equal(r.st, 1);
  t.same(d.host.mem.subarray(DATA + 0x200, DATA + 0x600), src);
});

t.test('a transfer spanning two pages uses PRP2 as the second page', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.data.forEach((_, i, a) => { a[i] = (i * 7) & 0xff; });
  // 8 blocks = 4 KiB starting 0x800 into a page: 2 KiB in page A, 2 KiB in page B (not adjacent).
  const a = DATA + 0x800;
  const b = DATA + 5 * PAGE;
  const c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: a, prp2: b, cdw12: 7 }), d.next(1));
  t.equal(c.st, 1);
  t.same(d.host.mem.subarray(a, a + 2048), d.backend.data.subarray(0, 2048));
  t.same(d.host.mem.subarray(b, b + 2048), d.backend.data.subarray(2048, 4096));
});

t.test('a PRP list describes pages three and beyond; the list may start mid-page', async (t) => {
  const d = new TestDriver();
  await d.ready();
  const pages = [DATA + 9 * PAGE, DATA + 2 * PAGE, DATA + 7 * PAGE, DATA + 3 * PAGE];
  const list = LIST + 0x10;
  pages.slice(1).forEach((p, i) => writeU64(d, list + i * 8, p));
  pages.forEach((p, i) => d.fill(p, PAGE, i));
  const w = await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: pages[0]!, prp2: list, cdw10: 8, cdw12: 31 }), d.next(1));
  t.equal(w.st, 1);
  pages.forEach((p, i) => t.same(d.backend.data.subarray(8 * 512 + i * PAGE, 8 * 512 + (i + 1) * PAGE), d.host.mem.subarray(p, p + PAGE), `page ${i}`));
});

t.test('a PRP list longer than its page chains through the last slot to the next list page', async (t) => {
  const d = new TestDriver({ mdts: 6 }, 1 << 20);
  await d.ready();
  // 40 pages (160 KiB): PRP1 + 39 list entries. The list starts 8 entries before the end of its page, so the
  // first list page holds 7 data entries + a chain pointer, the second holds the remaining 32.
  const pageAddr = (i: number) => DATA + (i * 2 + 1) * PAGE; // non-contiguous
  const list1 = LIST + PAGE - 8 * 8;
  const list2 = LIST + 4 * PAGE;
  for (let i = 1; i <= 7; i++) writeU64(d, list1 + (i - 1) * 8, pageAddr(i));
  writeU64(d, list1 + 7 * 8, list2);
  for (let i = 8; i < 40; i++) writeU64(d, list2 + (i - 8) * 8, pageAddr(i));
  for (let i = 0; i < 40; i++) d.fill(pageAddr(i), PAGE, i * 3);
  const w = await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: pageAddr(0), prp2: list1, cdw12: 319 }), d.next(1));
  t.equal(w.st, 1);
  let ok = true;
  for (let i = 0; i < 40; i++) {
    const got = d.backend.data.subarray(i * PAGE, (i + 1) * PAGE);
    const want = d.host.mem.subarray(pageAddr(i), pageAddr(i) + PAGE);
    if (!got.every((b, j) => b === want[j])) ok = false;
  }
  t.ok(ok, 'all 40 pages landed in order');
});

t.test('PRP Offset Invalid: misaligned PRP2, list entry, chain pointer, PRP1 bits 1:0', async (t) => {
  const d = new TestDriver();
  await d.ready();
  let c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: DATA + 0x1010, cdw12: 15 }), d.next(1));
  t.equal(c.st, 0x8027, 'second page not page-aligned');
  writeU64(d, LIST, DATA + 2 * PAGE + 0x200);
  c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: LIST, cdw12: 23 }), d.next(1));
  t.equal(c.st, 0x8027, 'list entry with an offset');
  c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: LIST + 4, cdw12: 23 }), d.next(1));
  t.equal(c.st, 0x8027, 'list pointer not QWORD aligned');
  c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA + 2, cdw12: 0 }), d.next(1));
  t.equal(c.st, 0x8027, 'PRP1 not DWORD aligned');
  writeU64(d, LIST + PAGE - 8, DATA + 0x20); // chain pointer with an offset
  c = await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: LIST + PAGE - 8, cdw12: 23 }), d.next(1));
  t.equal(c.st, 0x8027, 'chain pointer not page-aligned');
});

t.test('LBA range, namespace, MDTS and SGL checks', async (t) => {
  const d = new TestDriver({ mdts: 1 }, 64 * 1024); // 128 blocks; MDTS 8 KiB
  await d.ready();
  const st = async (e: Parameters<TestDriver['submit']>[1]) => (d.submit(1, e), (await d.next(1)).st);
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, cdw10: 127, cdw12: 1 }), 0x8101, 'SLBA+NLB+1 > NSZE');
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, cdw11: 1 }), 0x8101, 'SLBA above 2^32');
  t.equal(await st({ opc: IoOpc.READ, nsid: 2, prp1: DATA }), 0x8017, 'NSID 2 inactive');
  t.equal(await st({ opc: IoOpc.READ, nsid: 0, prp1: DATA }), 0x8017, 'NSID 0');
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: DATA + PAGE, cdw12: 15 }), 1, '8 KiB = MDTS is fine');
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: DATA + PAGE, cdw12: 16 }), 0x8005, 'beyond MDTS → Invalid Field');
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, flags: 0x40 }), 0x8005, 'PSDT = SGL');
  t.equal(await st({ opc: IoOpc.READ, nsid: 1, prp1: DATA, flags: 0x01 }), 0x8005, 'fused');
  t.equal(await st({ opc: 0x05, nsid: 1 }), 0x8003, 'Compare is not supported');
  t.equal(await st({ opc: AdminOpc.IDENTIFY, nsid: 1 }), 0x8003, 'an admin opcode on an I/O queue: 06h is not an NVM command');
});

t.test('FUA reaches the backend; with the write cache disabled every write is FUA', async (t) => {
  const d = new TestDriver();
  await d.ready();
  await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA, cdw12: 1 << 30 }), d.next(1));
  await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA }), d.next(1));
  t.same(d.backend.calls.filter((c) => c.op === 'write').map((c) => c.fua), [true, false]);
  t.equal((await d.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.VOLATILE_WRITE_CACHE, cdw11: 0 })).st, 1);
  await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA }), d.next(1));
  t.equal(d.backend.calls.at(-1)!.fua, true);
});

t.test('Flush one namespace or all (NSID FFFFFFFFh)', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' });
  await d.ready();
  const other = new (await import('../mem-backend.ts')).MemBackendStandIn(4096);
  d.ctrl.attachNamespace(2, other);
  t.equal((d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 }), await d.next(1)).st, 1);
  t.equal(d.backend.calls.filter((c) => c.op === 'flush').length, 1);
  t.equal((d.submit(1, { opc: IoOpc.FLUSH, nsid: 0xffffffff }), await d.next(1)).st, 1);
  t.equal(d.backend.calls.filter((c) => c.op === 'flush').length, 2);
  t.equal(other.calls.filter((c) => c.op === 'flush').length, 1);
  t.equal((d.submit(1, { opc: IoOpc.FLUSH, nsid: 3 }), await d.next(1)).st, 0x8017);
});

t.test('Write Zeroes zeroes the range; DEAC deallocates instead', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.data.fill(0xaa);
  t.equal((d.submit(1, { opc: IoOpc.WRITE_ZEROES, nsid: 1, cdw10: 4, cdw12: 3 }), await d.next(1)).st, 1);
  t.ok(d.backend.data.subarray(2048, 4096).every((b) => b === 0));
  t.equal(d.backend.data[4096], 0xaa);
  t.equal((d.submit(1, { opc: IoOpc.WRITE_ZEROES, nsid: 1, cdw10: 100, cdw12: (1 << 25) | 0 }), await d.next(1)).st, 1);
  t.match(d.backend.calls.at(-1), { op: 'discard', offset: 100 * 512, length: 512 });
  t.equal((d.submit(1, { opc: IoOpc.WRITE_ZEROES, nsid: 1, cdw10: 2047, cdw12: 1 }), await d.next(1)).st, 0x8101);
});

t.test('Dataset Management with AD deallocates each range; a range past NSZE fails the whole command', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.data.fill(0x55);
  const v = d.host.view;
  const range = (i: number, slba: number, nlb: number) => { v.setUint32(DATA + i * 16 + 4, nlb, true); v.setUint32(DATA + i * 16 + 8, slba, true); v.setUint32(DATA + i * 16 + 12, 0, true); };
  range(0, 0, 2);
  range(1, 10, 1);
  t.equal((d.submit(1, { opc: IoOpc.DATASET_MANAGEMENT, nsid: 1, prp1: DATA, cdw10: 1, cdw11: 4 }), await d.next(1)).st, 1);
  t.ok(d.backend.data.subarray(0, 1024).every((b) => b === 0));
  t.ok(d.backend.data.subarray(5120, 5632).every((b) => b === 0));
  t.equal(d.backend.data[1024], 0x55);
  const before = d.backend.calls.length;
  range(0, 5, 1);
  range(1, 2047, 2);
  t.equal((d.submit(1, { opc: IoOpc.DATASET_MANAGEMENT, nsid: 1, prp1: DATA, cdw10: 1, cdw11: 4 }), await d.next(1)).st, 0x8101);
  t.equal(d.backend.calls.length, before, 'nothing deallocated');
  t.equal((d.submit(1, { opc: IoOpc.DATASET_MANAGEMENT, nsid: 1, prp1: DATA, cdw10: 0, cdw11: 1 }), await d.next(1)).st, 1, 'IDR hint only: no-op');
});

t.test('DMA faults on data give Data Transfer Error; backend errors give media or internal status', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.host.unmapAll();
  d.host.map(0, DATA); // queues mapped, data area not
  t.equal((d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA }), await d.next(1)).st, 0x0009, 'read into unmapped memory');
  t.equal((d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA }), await d.next(1)).st, 0x0009, 'write from unmapped memory');
  d.host.map(DATA, 0x200000);
  d.backend.failNext = { op: 'read', kind: 'io' };
  t.equal((d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, cdw10: 3 }), await d.next(1)).st, 0x0503, 'Unrecovered Read Error (2/81h)');
  d.backend.failNext = { op: 'write', kind: 'io' };
  t.equal((d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA }), await d.next(1)).st, 0x0501, 'Write Fault (2/80h)');
  d.backend.failNext = { op: 'read', kind: 'unavailable' };
  t.equal((d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA }), await d.next(1)).st, 0x000d, 'Internal Error');
  d.backend.failNext = { op: 'flush', kind: 'timeout' };
  t.equal((d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 }), await d.next(1)).st, 0x000d, 'Internal Error');
  d.backend.crashNext = true;
  t.equal((d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA }), await d.next(1)).st, 0x000d, 'an unexpected exception → Internal Error');
  t.ok(d.host.events().includes('nvme.internal-error'));
  t.ok(d.host.events().includes('nvme.backend-error'));
  t.equal(d.ctrl.health.mediaErrors, 2);
  t.equal(d.host.counters.get('nvme.backend_errors'), 4);
});

// The queue engine: batched SQE fetch, concurrent commands, phase tags across wraps, SQ head reporting, CQ-full
// back-pressure, batched CQE writes, interrupt coalescing, SQ deletion with commands in flight, tracing and metrics.
import t from 'tap';
import { TestDriver, DATA, IO_SQ_BASE } from './driver.ts';
import { AdminOpc, Fid, IoOpc } from '../../../src/devices/nvme/regs.ts';
import type { Iova } from '../../../src/devices/brand.ts';

function countReads(d: TestDriver): { addrs: number[] } {
  const seen = { addrs: [] as number[] };
  const orig = d.host.dma.read;
  (d.host.dma as { read: typeof orig }).read = async (addr: Iova, dst: Uint8Array) => {
    seen.addrs.push(addr);
    return orig(addr, dst);
  };
  return seen;
}

t.test('one doorbell for 8 new entries fetches them with a single DMA read', async (t) => {
  const d = new TestDriver();
  await d.ready();
  const seen = countReads(d);
  for (let i = 0; i < 8; i++) d.place(1, { opc: IoOpc.FLUSH, nsid: 1 });
  d.ring(1);
  const cqes = await d.drain(1);
  t.equal(cqes.length, 8);
  t.same(seen.addrs.filter((a) => a >= IO_SQ_BASE(1) && a < IO_SQ_BASE(2)), [IO_SQ_BASE(1)]);
  t.equal(d.host.counters.get('nvme.sqe_fetched'), 8 + 2, '8 I/O + 2 admin entries');
});

t.test('entries that wrap the SQ are fetched in two runs, and SQHD reports the head after fetch', async (t) => {
  const d = new TestDriver();
  d.ctrl.attachNamespace(1, d.backend);
  d.enable();
  await d.createIoQueues(1, 8);
  for (let i = 0; i < 6; i++) d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 });
  const first = await d.drain(1);
  t.equal(first.length, 6);
  t.equal(first.at(-1)!.sqhd, 6);
  const seen = countReads(d);
  for (let i = 0; i < 5; i++) d.place(1, { opc: IoOpc.FLUSH, nsid: 1 });
  d.ring(1); // tail = 3: entries 6, 7, 0, 1, 2
  const cqes = await d.drain(1);
  t.equal(cqes.length, 5);
  t.same(seen.addrs, [IO_SQ_BASE(1) + 6 * 64, IO_SQ_BASE(1)]);
  t.equal(cqes.at(-1)!.sqhd, 3);
});

t.test('the phase tag flips each time the CQ wraps', async (t) => {
  const d = new TestDriver();
  d.ctrl.attachNamespace(1, d.backend);
  d.enable();
  await d.createIoQueues(1, 4, { cqSize: 4 });
  const phases: number[] = [];
  for (let i = 0; i < 10; i++) {
    d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 });
    const c = await d.next(1);
    phases.push(c.status16 & 1);
    t.equal(c.st, 1);
  }
  t.same(phases, [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
});

t.test('commands run concurrently and complete in any order', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.hold();
  const slow = d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  const fast = d.submit(1, { opc: IoOpc.WRITE_ZEROES, nsid: 1 });
  await d.host.settle();
  t.equal(d.backend.waiting, 2, 'both commands are in flight');
  t.equal(d.ctrl.namespaces.get(1)!.stats.queueLength, 1, 'the read counts in the volume queue length');
  d.backend.release();
  const cqes = await d.drain(1);
  t.same(cqes.map((c) => c.cid).sort(), [slow, fast].sort());
  t.ok(cqes.every((c) => c.st === 1));
});

t.test('a full CQ holds back fetching until the host rings the CQ head doorbell', async (t) => {
  const d = new TestDriver();
  d.ctrl.attachNamespace(1, d.backend);
  d.enable();
  await d.createIoQueues(1, 16, { cqSize: 4 });
  for (let i = 0; i < 10; i++) d.place(1, { opc: IoOpc.FLUSH, nsid: 1 });
  d.ring(1);
  await d.host.settle(10);
  // The host has not consumed anything: only size-1 = 3 completions fit.
  const got: number[] = [];
  for (let c = d.peek(1); c !== null; c = d.peek(1)) { got.push(c.cid); d.consume(1, false); }
  t.equal(got.length, 3, 'three CQEs posted, the fourth slot is never written over');
  t.equal(d.backend.calls.length, 3, 'only three commands were fetched and run');
  t.ok((d.host.counters.get('nvme.cq_held') ?? 0) >= 1, 'the stall is counted');
  // Host returns the three slots: the controller continues.
  d.w32(d.cqDoorbell(1), 3);
  const rest: number[] = [];
  for (let i = 0; i < 10 && rest.length < 7; i++) {
    await d.host.settle(5);
    for (let c = d.peek(1); c !== null; c = d.peek(1)) { rest.push(c.cid); d.consume(1, true); }
  }
  t.equal(rest.length, 7);
  t.same([...got, ...rest], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

t.test('completions of one doorbell are written as one run and raise one interrupt', async (t) => {
  const d = new TestDriver();
  await d.ready();
  const before = d.host.irqs.length;
  for (let i = 0; i < 16; i++) d.place(1, { opc: IoOpc.FLUSH, nsid: 1 });
  d.ring(1);
  const cqes = await d.drain(1);
  t.equal(cqes.length, 16);
  t.ok(d.host.irqs.length - before <= 2, `few interrupts for 16 completions (${d.host.irqs.length - before})`);
  t.ok(d.host.irqs.slice(before).every((v) => v === 1), 'I/O CQ 1 raises its own vector');
});

t.test('interrupt coalescing: threshold fires early, aggregation time fires on the injected clock', async (t) => {
  const d = new TestDriver();
  await d.ready();
  // THR = 3 (4 completions), TIME = 10 × 100 µs = 1 ms.
  t.equal((await d.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.INTERRUPT_COALESCING, cdw11: (10 << 8) | 3 })).st, 1);
  const base = d.host.irqs.length;
  d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 });
  await d.host.settle(10);
  t.ok(d.peek(1) !== null, 'the CQE is posted at once');
  t.equal(d.host.irqs.length, base, 'but the interrupt waits');
  d.host.advance(0.5);
  t.equal(d.host.irqs.length, base, 'not yet after 0.5 ms');
  d.host.advance(0.6);
  t.same(d.host.irqs.slice(base), [1], 'aggregation time elapsed: one interrupt');
  await d.drain(1);
  for (let i = 0; i < 4; i++) d.place(1, { opc: IoOpc.FLUSH, nsid: 1 });
  d.ring(1);
  await d.host.settle(10);
  t.same(d.host.irqs.slice(base), [1, 1], 'threshold of 4 reached: interrupt without waiting');
  await d.drain(1);
  // Interrupt Vector Configuration: coalescing disabled for vector 1 → immediate.
  t.equal((await d.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.INTERRUPT_VECTOR_CONFIG, cdw11: (1 << 16) | 1 })).st, 1);
  const n = d.host.irqs.length;
  d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 });
  await d.host.settle(10);
  t.equal(d.host.irqs.length, n + 1);
});

t.test('a CQ created with IEN=0 never raises its vector', async (t) => {
  const d = new TestDriver();
  d.ctrl.attachNamespace(1, d.backend);
  d.enable();
  await d.createIoQueues(1, 8, { ien: false });
  const n = d.host.irqs.length;
  d.submit(1, { opc: IoOpc.FLUSH, nsid: 1 });
  const c = await d.next(1);
  t.equal(c.st, 1);
  t.equal(d.host.irqs.length, n);
});

t.test('Delete I/O SQ completes commands in flight with Aborted due to SQ Deletion first', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.hold();
  const cid = d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  await d.host.settle();
  d.submit(0, { opc: AdminOpc.DELETE_IO_SQ, cdw10: 1 });
  await d.host.settle();
  t.equal(d.peek(0), null, 'the delete waits for the command in flight');
  d.backend.release();
  const io = await d.next(1);
  t.equal(io.cid, cid);
  t.equal(io.st, 0x0011, 'SCT 0 SC 08h, retryable');
  const del = await d.next(0);
  t.equal(del.st, 1);
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 1 })).st, 1);
});

t.test('a sampled doorbell traces the I/O step by step', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.host.traces.length = 0;
  d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  await d.next(1);
  t.same(d.host.traces.map((e) => e.kind), ['doorbell', 'desc-dma', 'backend', 'data-dma', 'completion', 'msix']);
});

t.test('metrics count commands by opcode, bytes and statuses', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA, cdw12: 7 });
  d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  d.submit(1, { opc: 0x7f, nsid: 1 });
  await d.drain(1);
  const m = d.host.counters;
  t.equal(m.get('nvme.cmd.io.write'), 1);
  t.equal(m.get('nvme.cmd.io.read'), 1);
  t.equal(m.get('nvme.cmd.io.0x7f'), 1);
  t.equal(m.get('nvme.cmd.admin.create_io_cq'), 1);
  t.equal(m.get('nvme.bytes_written'), 4096);
  t.equal(m.get('nvme.bytes_read'), 512);
  t.equal(m.get('nvme.status.invalid-opcode'), 1);
});

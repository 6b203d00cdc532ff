// NVME-ADM: queue management errors (specs.md §2.8), Identify CNS 00h–03h, Abort, Async Event Request limits.
import t from 'tap';
import { TestDriver, DATA, IO_CQ_BASE, IO_SQ_BASE } from '../driver.ts';
import { AdminOpc, IoOpc } from '../../../../src/devices/nvme/regs.ts';
import { IdCtrl, IdNs } from '../../../../src/devices/nvme/identify.ts';
import { MemBackendStandIn } from '../mem-backend.ts';

const cq = (qid: number, qsize: number, cdw11: number, prp1 = IO_CQ_BASE(qid)) =>
  ({ opc: AdminOpc.CREATE_IO_CQ, prp1, cdw10: (qsize << 16) | qid, cdw11 });
const sq = (qid: number, qsize: number, cqid: number, pc = 1, prp1 = IO_SQ_BASE(qid)) =>
  ({ opc: AdminOpc.CREATE_IO_SQ, prp1, cdw10: (qsize << 16) | qid, cdw11: (cqid << 16) | pc });

t.test('Create I/O CQ: every error status of specs.md §2.8', async (t) => {
  const d = new TestDriver({ ioQueues: 4, mqes: 255 });
  d.enable();
  t.equal((await d.admin(cq(0, 15, 3))).st, 0x8203, 'QID 0 → Invalid Queue Identifier + DNR');
  t.equal((await d.admin(cq(5, 15, 3))).st, 0x8203, 'QID above the allocated count');
  t.equal((await d.admin(cq(1, 0, 3))).st, 0x8205, 'QSIZE 0 → Invalid Queue Size + DNR');
  t.equal((await d.admin(cq(1, 256, 3))).st, 0x8205, 'QSIZE > MQES');
  t.equal((await d.admin(cq(1, 15, (5 << 16) | 3))).st, 0x8211, 'IV 5 ≥ 5 vectors → Invalid Interrupt Vector');
  t.equal((await d.admin(cq(1, 15, 2))).st, 0x8005, 'PC = 0 with CAP.CQR = 1 → Invalid Field');
  t.equal((await d.admin(cq(1, 15, 3, IO_CQ_BASE(1) + 8))).st, 0x8027, 'unaligned base → PRP Offset Invalid');
  t.equal((await d.admin(cq(1, 15, (4 << 16) | 3))).st, 0x0001, 'valid');
  t.equal((await d.admin(cq(1, 15, 3))).st, 0x8203, 'QID already in use');
});

t.test('Create I/O SQ: every error status of specs.md §2.8', async (t) => {
  const d = new TestDriver({ ioQueues: 4, mqes: 255 });
  d.enable();
  t.equal((await d.admin(cq(1, 15, 3))).st, 1);
  t.equal((await d.admin(sq(1, 15, 2))).st, 0x8201, 'CQ 2 does not exist → Completion Queue Invalid + DNR');
  t.equal((await d.admin(sq(1, 15, 0))).st, 0x8201, 'CQID 0 → Completion Queue Invalid');
  t.equal((await d.admin(sq(0, 15, 1))).st, 0x8203, 'QID 0');
  t.equal((await d.admin(sq(9, 15, 1))).st, 0x8203, 'QID above the allocated count');
  t.equal((await d.admin(sq(1, 0, 1))).st, 0x8205, 'QSIZE 0');
  t.equal((await d.admin(sq(1, 300, 1))).st, 0x8205, 'QSIZE > MQES');
  t.equal((await d.admin(sq(1, 15, 1, 0))).st, 0x8005, 'PC = 0');
  t.equal((await d.admin(sq(1, 15, 1))).st, 1);
  t.equal((await d.admin(sq(1, 15, 1))).st, 0x8203, 'QID already in use');
  t.equal((await d.admin(sq(2, 15, 1))).st, 1, 'two SQs may share one CQ');
});

t.test('Delete I/O SQ/CQ: bad QIDs and deleting a CQ still in use', async (t) => {
  const d = new TestDriver();
  await d.ready();
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 0 })).st, 0x8203, 'SQ 0');
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 7 })).st, 0x8203, 'unknown SQ');
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 0 })).st, 0x8203, 'CQ 0');
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 7 })).st, 0x8203, 'unknown CQ');
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 1 })).st, 0x8219, 'SQ 1 uses CQ 1 → Invalid Queue Deletion');
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 1 })).st, 1);
  t.equal((await d.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 1 })).st, 1);
});

t.test('an unsupported admin opcode and an NVM opcode on the admin queue fail with Invalid Opcode', async (t) => {
  const d = new TestDriver();
  d.enable();
  t.equal((await d.admin({ opc: 0x80 })).st, 0x8003, 'Format NVM is not supported');
  t.equal((await d.admin({ opc: 0x18 })).st, 0x8003, 'Keep Alive');
  t.equal((await d.admin({ opc: 0x0d })).st, 0x8003, 'Reservation Register (NVM 0Dh) is not an admin command here');
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, flags: 0x40, cdw10: 1, prp1: DATA })).st, 0x8005, 'PSDT = SGL → Invalid Field');
});

t.test('Identify Controller (CNS 01h) reports the EBS personality', async (t) => {
  const d = new TestDriver({ serial: 'vol0123456789abcdef0', blockDeviceName: '/dev/sdf', firmware: '2.0', mdts: 5 });
  d.enable();
  const c = await d.admin({ opc: AdminOpc.IDENTIFY, prp1: DATA, cdw10: 1 });
  t.equal(c.st, 1);
  const m = d.host.mem;
  const v = d.host.view;
  const O = IdCtrl.offset;
  const str = (off: number, len: number) => Buffer.from(m.subarray(DATA + off, DATA + off + len)).toString('latin1');
  t.equal(v.getUint16(DATA + O.vid, true), 0x1d0f);
  t.equal(v.getUint16(DATA + O.ssvid, true), 0x1d0f);
  t.equal(str(O.sn, 20), 'vol0123456789abcdef0');
  t.equal(str(O.mn, 40), 'Amazon Elastic Block Store'.padEnd(40, ' '));
  t.equal(str(O.fr, 8), '2.0     ');
  t.equal(m[DATA + O.mdts], 5);
  t.equal(v.getUint32(DATA + O.ver, true), 0x00010400, 'VER matches VS');
  t.equal(m[DATA + O.sqes], 0x66);
  t.equal(m[DATA + O.cqes], 0x44);
  t.equal(v.getUint32(DATA + O.nn, true), 1);
  t.equal(m[DATA + O.aerl], 3);
  t.equal(m[DATA + O.acl], 3);
  t.equal(v.getUint16(DATA + O.oncs, true) & 0x0c, 0x0c, 'DSM and Write Zeroes');
  t.equal(m[DATA + O.vwc]! & 1, 1, 'volatile write cache present');
  t.equal(v.getUint32(DATA + O.oaes, true), 0x100, 'namespace attribute notices');
  t.equal(v.getUint32(DATA + O.sgls, true), 0, 'no SGLs');
  t.equal(str(O.vs, 32), '/dev/sdf'.padEnd(32, ' '), 'bdev in the vendor-specific area at 3072');
  t.ok(v.getUint16(DATA + O.psd0, true) > 0, 'PSD0 is valid');
});

t.test('Identify Namespace (CNS 00h): active, inactive, and invalid NSIDs', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' }, 1 << 20);
  d.ctrl.attachNamespace(1, d.backend, 4096);
  d.enable();
  const c = await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 1, prp1: DATA, cdw10: 0 });
  t.equal(c.st, 1);
  const v = d.host.view;
  t.equal(v.getUint32(DATA + IdNs.offset.nsze, true), 256, 'NSZE = 1 MiB / 4 KiB');
  t.equal(v.getUint32(DATA + IdNs.offset.ncap, true), 256);
  t.equal(d.host.mem[DATA + IdNs.offset.flbas], 0);
  t.equal(v.getUint32(DATA + IdNs.offset.lbaf, true), 0x000c0000, 'LBAF0 = 4 KiB, no metadata');
  d.host.mem.fill(0xee, DATA, DATA + 4096);
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 5, prp1: DATA, cdw10: 0 })).st, 1, 'inactive NSID succeeds');
  t.ok(d.host.mem.subarray(DATA, DATA + 4096).every((b) => b === 0), 'with all zeros');
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 0, prp1: DATA, cdw10: 0 })).st, 0x8017, 'NSID 0 → Invalid Namespace');
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 9, prp1: DATA, cdw10: 0 })).st, 0x8017, 'NSID > NN');
});

t.test('Identify active NSID list (CNS 02h) and descriptors (CNS 03h); reserved CNS is Invalid Field', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' });
  for (const n of [5, 2, 7]) d.ctrl.attachNamespace(n, new MemBackendStandIn(4096));
  d.enable();
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 0, prp1: DATA, cdw10: 2 })).st, 1);
  t.same([d.u32(DATA), d.u32(DATA + 4), d.u32(DATA + 8), d.u32(DATA + 12)], [2, 5, 7, 0]);
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 2, prp1: DATA, cdw10: 2 })).st, 1);
  t.same([d.u32(DATA), d.u32(DATA + 4), d.u32(DATA + 8)], [5, 7, 0], 'only NSIDs greater than the command NSID');
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 0xfffffffe, prp1: DATA, cdw10: 2 })).st, 0x8017);
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 5, prp1: DATA, cdw10: 3 })).st, 1);
  t.same([d.host.mem[DATA], d.host.mem[DATA + 1]], [2, 16], 'NGUID descriptor');
  t.same([d.host.mem[DATA + 20], d.host.mem[DATA + 21], d.host.mem[DATA + 24]], [4, 1, 0], 'CSI descriptor: NVM');
  t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, nsid: 3, prp1: DATA, cdw10: 3 })).st, 0x8017, 'inactive NSID');
  for (const cns of [0x04, 0x10, 0x13, 0xff]) {
    t.equal((await d.admin({ opc: AdminOpc.IDENTIFY, prp1: DATA, cdw10: cns })).st, 0x8005, `CNS ${cns} reserved`);
  }
});

t.test('Identify into an unmapped buffer fails with Data Transfer Error', async (t) => {
  const d = new TestDriver();
  d.enable();
  d.host.unmapAll();
  d.host.map(0, 0x400000);
  const c = await d.admin({ opc: AdminOpc.IDENTIFY, prp1: 0x500000, cdw10: 1 });
  t.equal(c.st, 0x0009, 'SCT 0 SC 04h, retryable');
  t.equal(d.host.dmaFaults.length, 1);
});

t.test('Async Event Requests beyond AERL+1 fail with AER Limit Exceeded', async (t) => {
  const d = new TestDriver();
  d.enable();
  for (let i = 0; i < 4; i++) d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST });
  await d.host.settle();
  t.equal(d.peek(0), null, 'four AERs outstanding (AERL = 3)');
  const c = await d.admin({ opc: AdminOpc.ASYNC_EVENT_REQUEST });
  t.equal(c.st, 0x820b, 'SCT 1 SC 05h + DNR');
});

t.test('Abort: an in-flight command completes with Command Abort Requested; unknown ones are not aborted', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.hold();
  const cid = d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  await d.host.settle();
  const a = await d.admin({ opc: AdminOpc.ABORT, cdw10: (cid << 16) | 1 });
  t.equal(a.st, 1);
  t.equal(a.dw0 & 1, 0, 'DW0 bit 0 = 0: aborted');
  d.backend.release();
  const io = await d.next(1);
  t.equal(io.cid, cid);
  t.equal(io.st, 0x000f, 'SCT 0 SC 07h');
  const b = await d.admin({ opc: AdminOpc.ABORT, cdw10: (1234 << 16) | 1 });
  t.equal(b.dw0 & 1, 1, 'not found: not aborted');
  // An outstanding AER can be aborted too.
  const aer = d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST });
  await d.host.settle();
  d.submit(0, { opc: AdminOpc.ABORT, cdw10: (aer << 16) | 0 });
  const both = await d.drain(0);
  t.same(both.map((c) => [c.cid, c.st]).sort(), [[aer, 0x000f], [both.find((c) => c.cid !== aer)!.cid, 1]].sort());
});
// Abort Command Limit Exceeded is implemented (ACL = 3) but unreachable here: Abort completes synchronously, so no
// more than one Abort is ever outstanding.

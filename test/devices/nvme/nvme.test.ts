// NVME-REG: the controller as a device model — identity, BAR0 registers, enable/reset/shutdown handshakes,
// invalid doorbells and namespace-change notices.
import t from 'tap';
import { TestDriver, ACQ_BASE, ASQ_BASE, DATA } from './driver.ts';
import { NvmeController, NvmeConfigError } from '../../../src/devices/nvme/nvme.ts';
import { AdminOpc, CSTS, DOORBELL_BASE, IoOpc, Lid, NvmeRegs } from '../../../src/devices/nvme/regs.ts';
import { FakeHost } from '../../helpers/fake-host.ts';
import { MemBackendStandIn } from './mem-backend.ts';

const R = NvmeRegs.offset;
const IO_CC = (6 << 16) | (4 << 20);

t.test('identity follows the personality; BAR0 is one 64-bit 16 KiB BAR; MSI-X has queues+1 vectors', async (t) => {
  const host = new FakeHost();
  const ebs = new NvmeController(host.context());
  t.same(ebs.identity, { vendorId: 0x1d0f, deviceId: 0x8061, subsystemVendorId: 0x1d0f, subsystemId: 0x8061, revisionId: 0, classCode: 0x010802 });
  t.equal(ebs.bars.length, 1);
  t.match(ebs.bars[0], { index: 0, size: 0x4000, is64: true, prefetchable: false });
  t.equal(ebs.msixVectors, 17);
  t.equal(ebs.msixBar, 0);
  t.equal(ebs.msixTableOffset % 4096, 0);
  t.ok(ebs.msixTableOffset >= 0x2000, 'MSI-X table sits above the doorbells');
  const is = new NvmeController(host.context(), { personality: 'instance-store', ioQueues: 4 });
  t.equal(is.identity.deviceId, 0xcd00);
  t.equal(is.msixVectors, 5);
  t.equal(is.info.model, 'Amazon EC2 NVMe Instance Storage');
});

t.test('bad options are configuration errors with stable codes', async (t) => {
  const host = new FakeHost();
  t.throws(() => new NvmeController(host.context(), { ioQueues: 0 }), NvmeConfigError);
  t.throws(() => new NvmeController(host.context(), { mqes: 0 }), { code: 'NVME_BAD_OPTION' });
  t.throws(() => new NvmeController(host.context(), { ioQueues: 255, dstrd: 3 }), { code: 'NVME_BAD_OPTION' });
  const c = new NvmeController(host.context());
  t.throws(() => c.attachNamespace(2, new MemBackendStandIn(4096)), { code: 'NVME_BAD_NSID' });
  t.throws(() => c.attachNamespace(1, new MemBackendStandIn(4096), 1000), { code: 'NVME_BAD_LBA_SIZE' });
  t.throws(() => c.attachNamespace(1, new MemBackendStandIn(1000)), { code: 'NVME_BAD_LBA_SIZE' });
  c.attachNamespace(1, new MemBackendStandIn(4096));
  t.throws(() => c.attachNamespace(1, new MemBackendStandIn(4096)), { code: 'NVME_NS_EXISTS' });
  t.throws(() => c.detachNamespace(3), { code: 'NVME_NO_NS' });
});

t.test('CAP, VS and reset values read as specified, in 32-, 16- and 8-bit accesses', async (t) => {
  const d = new TestDriver({ mqes: 2047, dstrd: 1 });
  const capLo = d.r32(R.CAP);
  const capHi = d.r32(R.CAP + 4);
  t.equal(capLo & 0xffff, 2047, 'CAP.MQES');
  t.equal((capLo >> 16) & 1, 1, 'CAP.CQR');
  t.equal(capLo >>> 24, 20, 'CAP.TO = 10 s');
  t.equal(capHi & 0xf, 1, 'CAP.DSTRD');
  t.equal((capHi >> 5) & 1, 1, 'CAP.CSS NVM (bit 37)');
  t.equal((capHi >> 16) & 0xf, 0, 'CAP.MPSMIN');
  t.equal((capHi >> 20) & 0xf, 4, 'CAP.MPSMAX');
  t.equal(d.r32(R.VS), 0x00010400);
  t.equal(d.bar.read(R.VS + 2, 2), 0x0001, '16-bit read of VS major');
  t.equal(d.bar.read(R.VS + 1, 1), 0x04, '8-bit read of VS minor');
  for (const off of [R.INTMS, R.INTMC, R.CC, R.CSTS, R.NSSR, R.AQA, R.ASQ, R.ASQ + 4, R.ACQ, R.ACQ + 4, R.CMBLOC, 0x18, 0x500]) {
    t.equal(d.r32(off), 0, `0x${off.toString(16)} resets to 0`);
  }
  t.equal(d.ctrl.registerName(R.CC), 'CC');
  d.w32(R.CAP, 0xffffffff);
  d.w32(R.VS, 0);
  t.equal(d.r32(R.CAP) & 0xffff, 2047, 'CAP is read-only');
  t.equal(d.r32(R.VS), 0x00010400, 'VS is read-only');
  d.w32(DOORBELL_BASE, 5);
  t.equal(d.r32(DOORBELL_BASE), 0, 'doorbells read back 0');
});

t.test('AQA, ASQ and ACQ are writable as lo/hi halves; ASQ/ACQ bits 11:0 read 0', async (t) => {
  const d = new TestDriver();
  d.w32(R.AQA, 0xffffffff);
  t.equal(d.r32(R.AQA), 0x0fff0fff);
  d.w32(R.ASQ, 0x12345fff);
  d.w32(R.ASQ + 4, 0x1);
  t.equal(d.r32(R.ASQ), 0x12345000);
  t.equal(d.r32(R.ASQ + 4), 1);
  d.bar.write(R.ACQ + 2, 2, 0xabcd);
  t.equal(d.r32(R.ACQ), 0xabcd0000, '16-bit write merges into the register');
});

t.test('INTMS sets and INTMC clears mask bits (RW1S / RW1C), both read the mask', async (t) => {
  const d = new TestDriver();
  d.w32(R.INTMS, 0b1010);
  t.equal(d.r32(R.INTMS), 0b1010);
  d.w32(R.INTMC, 0b0010);
  t.equal(d.r32(R.INTMC), 0b1000);
  d.bar.write(R.INTMC + 1, 1, 0);
  t.equal(d.r32(R.INTMS), 0b1000, 'a byte write of zeros to INTMC clears nothing');
});

t.test('CC.EN=1 with a valid configuration sets CSTS.RDY and admin commands run', async (t) => {
  const d = new TestDriver();
  d.enable();
  t.equal(d.csts(), CSTS.RDY);
  const c = await d.admin({ opc: AdminOpc.IDENTIFY, prp1: DATA, cdw10: 1 });
  t.equal(c.st, 0x0001);
  t.equal(c.sqhd, 1);
  t.equal(d.host.irqs[0], 0, 'admin CQ uses vector 0');
});

for (const [name, setup] of [
  ['AQA=0', { asqs: 1, acqs: 1, aqa: 0 }],
  ['a bad MPS', { cc: IO_CC | (5 << 7) }],
  ['IOSQES=0', { cc: 4 << 20 }],
  ['IOCQES=0', { cc: 6 << 16 }],
  ['an unsupported CSS', { cc: IO_CC | (7 << 4) }],
] as const) {
  t.test(`CC.EN=1 with ${name} sets CSTS.CFS and not RDY`, async (t) => {
    const d = new TestDriver();
    if ('aqa' in setup) {
      d.w32(R.ASQ, ASQ_BASE);
      d.w32(R.ACQ, ACQ_BASE);
      d.w32(R.CC, IO_CC | 1);
    } else {
      d.enable(setup);
    }
    t.equal(d.csts() & CSTS.RDY, 0);
    t.equal(d.csts() & CSTS.CFS, CSTS.CFS);
    t.ok(d.host.events().includes('nvme.enable-invalid-config'));
    t.equal(d.host.counters.get('nvme.enable_failed'), 1);
    d.w32(R.CC, 0);
    t.equal(d.csts(), 0, 'EN 1→0 clears CFS');
  });
}

t.test('controller reset drops queues and outstanding commands without completions, keeps AQA/ASQ/ACQ', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.hold();
  d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA });
  d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST });
  await d.host.settle();
  t.equal(d.backend.waiting, 1, 'the read is in flight');
  const irqs = d.host.irqs.length;
  d.w32(R.CC, IO_CC);
  t.equal(d.csts() & CSTS.RDY, 0);
  t.equal(d.r32(R.AQA), 0x001f001f, 'AQA kept');
  t.equal(d.r32(R.ASQ), ASQ_BASE, 'ASQ kept');
  t.equal(d.r32(R.ACQ), ACQ_BASE, 'ACQ kept');
  d.backend.release();
  await d.host.settle(10);
  t.equal(d.host.irqs.length, irqs, 'no interrupt for dropped commands');
  t.equal(d.peek(1), null, 'no completion for the dropped read');
  // Re-enable: the admin queue restarts at slot 0 with phase 1, I/O queues are gone.
  d.host.mem.fill(0, ACQ_BASE, ACQ_BASE + 4096);
  d.enable();
  const c = await d.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 1 });
  t.equal(c.st, 0x8203, 'SQ 1 no longer exists');
  t.equal(c.sqhd, 1, 'admin SQ head restarted at 0');
});

t.test('normal shutdown reports SHST 01 then 10 once commands in flight finish and namespaces are flushed', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.backend.hold();
  d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA });
  await d.host.settle();
  d.w32(R.CC, d.r32(R.CC) | (1 << 14));
  t.equal((d.csts() >> 2) & 3, 1, 'SHST = shutdown occurring');
  await d.host.settle();
  t.equal((d.csts() >> 2) & 3, 1, 'still occurring while a write is in flight');
  d.backend.release();
  await d.host.settle(10);
  t.equal((d.csts() >> 2) & 3, 2, 'SHST = shutdown complete');
  t.ok(d.backend.calls.some((c) => c.op === 'flush'), 'namespace flushed');
  const irqs = d.host.irqs.length;
  d.w32(d.sqDoorbell(1), 5);
  await d.host.settle();
  t.equal(d.host.irqs.length, irqs, 'doorbells are ignored after shutdown');
  t.ok(d.host.events().includes('nvme.doorbell-while-not-ready'));
  d.disable();
  t.equal(d.csts(), 0, 'reset clears SHST');
});

t.test('an invalid doorbell raises an Error async event with a log entry; it never throws', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST, cid: 99 });
  await d.host.settle();
  d.w32(d.sqDoorbell(7), 1); // queue 7 does not exist
  const aen = await d.next(0);
  t.equal(aen.cid, 99);
  t.equal(aen.dw0, 0x00 | (0x00 << 8) | (Lid.ERROR_INFO << 16), 'type error, invalid doorbell register, log 01h');
  d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST, cid: 100 });
  await d.host.settle();
  d.w32(d.sqDoorbell(1), 64); // SQ 1 has 64 entries: 64 is out of range
  t.equal(d.peek(0), null, 'a second error event stays masked until the error log is read');
  const log = await d.admin({ opc: AdminOpc.GET_LOG_PAGE, prp1: DATA, cdw10: Lid.ERROR_INFO | (15 << 16) });
  t.equal(log.st, 1);
  t.equal(d.host.view.getUint16(DATA + 8, true), 1, 'newest error log entry names SQ 1');
  const aen2 = await d.next(0);
  t.equal(aen2.cid, 100);
  t.equal(aen2.dw0, 0x00 | (0x01 << 8) | (Lid.ERROR_INFO << 16), 'invalid doorbell write value');
  d.w32(d.cqDoorbell(1), 3); // head beyond anything posted
  t.ok(d.host.events().includes('nvme.doorbell-invalid-value'));
  t.equal(d.host.counters.get('nvme.invalid_doorbell'), 3);
});

t.test('attaching a namespace while enabled raises a Namespace Attribute Changed notice naming log 04h', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' });
  await d.ready();
  d.submit(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST, cid: 42 });
  await d.host.settle();
  t.equal(d.peek(0), null, 'an AER completes only when an event occurs');
  d.ctrl.attachNamespace(3, new MemBackendStandIn(8192));
  const aen = await d.next(0);
  t.equal(aen.cid, 42);
  t.equal(aen.st, 1);
  t.equal(aen.dw0, 0x2 | (0x00 << 8) | (0x04 << 16));
  const log = await d.admin({ opc: AdminOpc.GET_LOG_PAGE, nsid: 0xffffffff, prp1: DATA, cdw10: Lid.CHANGED_NS_LIST | (1023 << 16) });
  t.equal(log.st, 1);
  t.equal(d.u32(DATA), 3);
  t.equal(d.u32(DATA + 4), 0);
  // Detach while no AER is outstanding: the event waits for the next AER.
  d.ctrl.detachNamespace(3);
  const c = await d.admin({ opc: AdminOpc.ASYNC_EVENT_REQUEST, cid: 43 });
  t.equal(c.cid, 43);
  t.equal(c.dw0 >> 16, 0x04);
});

t.test('attaching a namespace while disabled raises no event', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' });
  d.ctrl.attachNamespace(2, new MemBackendStandIn(4096));
  d.enable();
  const c = await d.admin({ opc: AdminOpc.GET_LOG_PAGE, prp1: DATA, cdw10: Lid.CHANGED_NS_LIST | (1023 << 16) });
  t.equal(c.st, 1);
  t.equal(d.u32(DATA), 0, 'changed list empty');
});

t.test('PCI reset (FLR) returns every register to its power-on value and counts an unsafe shutdown', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.ctrl.reset();
  for (const off of [R.CC, R.CSTS, R.AQA, R.ASQ, R.ACQ]) t.equal(d.r32(off), 0);
  t.equal(d.ctrl.health.unsafeShutdowns, 1);
  t.equal(d.ctrl.health.powerCycles, 2);
  t.ok(d.ctrl.namespaces.has(1), 'namespaces stay attached');
});

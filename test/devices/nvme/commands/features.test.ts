// NVME-ADM: Get/Set Features — Number of Queues once per reset, SEL, SV, coalescing values, Async Event Config,
// Timestamp, and unknown features.
import t from 'tap';
import { TestDriver, DATA } from '../driver.ts';
import { AdminOpc, Fid, NvmeRegs } from '../../../../src/devices/nvme/regs.ts';

const set = (fid: number, cdw11: number, extra: object = {}) => ({ opc: AdminOpc.SET_FEATURES, cdw10: fid, cdw11, ...extra });
const get = (fid: number, sel = 0, cdw11 = 0) => ({ opc: AdminOpc.GET_FEATURES, cdw10: fid | (sel << 8), cdw11, prp1: DATA });

t.test('Number of Queues: grants at most the controller count, once per reset, before any I/O queue', async (t) => {
  const d = new TestDriver({ ioQueues: 4 });
  d.enable();
  const g = await d.admin(get(Fid.NUMBER_OF_QUEUES));
  t.equal(g.dw0, (3 << 16) | 3, 'defaults to everything the controller has');
  t.equal((await d.admin(set(Fid.NUMBER_OF_QUEUES, 0xffff))).st, 0x8005, 'NSQR 0xFFFF → Invalid Field');
  const s = await d.admin(set(Fid.NUMBER_OF_QUEUES, (63 << 16) | 1));
  t.equal(s.st, 1);
  t.equal(s.dw0, (3 << 16) | 1, 'NSQA 2 queues, NCQA capped at 4');
  t.equal((await d.admin(set(Fid.NUMBER_OF_QUEUES, 0))).st, 0x8019, 'a second Set → Command Sequence Error + DNR');
  t.equal((await d.createIoQueues(3))[1], 0x8203, 'SQ 3 is beyond the 2 granted SQs');
  d.disable();
  d.enable();
  await d.createIoQueues(1);
  t.equal((await d.admin(set(Fid.NUMBER_OF_QUEUES, 0))).st, 0x8019, 'after a queue exists → Command Sequence Error');
  d.w32(NvmeRegs.offset.CC, 0);
  d.enable();
  t.equal((await d.admin(set(Fid.NUMBER_OF_QUEUES, 0))).st, 1, 'allowed again after a reset');
});

t.test('Set with SV=1 fails with Feature Identifier Not Saveable; unknown FIDs are Invalid Field', async (t) => {
  const d = new TestDriver();
  d.enable();
  t.equal((await d.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.ARBITRATION | (1 << 31), cdw11: 0 })).st, 0x821b);
  t.equal((await d.admin(set(0x7f, 0))).st, 0x8005);
  t.equal((await d.admin(get(0x7f))).st, 0x8005);
  t.equal((await d.admin(get(Fid.ARBITRATION, 4))).st, 0x8005, 'reserved SEL');
});

t.test('current, default and supported-capability values (SEL 000b/001b/011b)', async (t) => {
  const d = new TestDriver();
  d.enable();
  t.equal((await d.admin(set(Fid.VOLATILE_WRITE_CACHE, 0))).st, 1);
  t.equal((await d.admin(get(Fid.VOLATILE_WRITE_CACHE))).dw0, 0, 'current');
  t.equal((await d.admin(get(Fid.VOLATILE_WRITE_CACHE, 1))).dw0, 1, 'default');
  t.equal((await d.admin(get(Fid.VOLATILE_WRITE_CACHE, 3))).dw0, 0b100, 'changeable, not saveable');
  t.equal((await d.admin(set(Fid.INTERRUPT_COALESCING, 0x1234_0a05))).st, 1);
  t.equal((await d.admin(get(Fid.INTERRUPT_COALESCING))).dw0, 0x0a05, 'THR and TIME kept');
  t.equal((await d.admin(set(Fid.ASYNC_EVENT_CONFIG, 0xffff_ffff))).st, 1);
  t.equal((await d.admin(get(Fid.ASYNC_EVENT_CONFIG))).dw0, 0x1ff, 'only supported bits stick');
  t.equal((await d.admin(set(Fid.INTERRUPT_VECTOR_CONFIG, 99))).st, 0x8005, 'vector out of range');
  t.equal((await d.admin(get(Fid.INTERRUPT_VECTOR_CONFIG, 0, 2))).dw0, 2);
  for (const fid of [Fid.ARBITRATION, Fid.POWER_MANAGEMENT, Fid.TEMPERATURE_THRESHOLD, Fid.ERROR_RECOVERY]) {
    t.equal((await d.admin(set(fid, 3))).st, 1);
    t.equal((await d.admin(get(fid))).dw0, 3, `FID ${fid} round-trips`);
  }
  d.disable();
  d.enable();
  t.equal((await d.admin(get(Fid.VOLATILE_WRITE_CACHE))).dw0, 1, 'features return to defaults on reset');
});

t.test('Timestamp: set by the host, then advancing with the injected clock', async (t) => {
  const d = new TestDriver();
  d.enable();
  const v = d.host.view;
  v.setUint32(DATA, 1_000_000, true);
  v.setUint16(DATA + 4, 0, true);
  t.equal((await d.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.TIMESTAMP, prp1: DATA })).st, 1);
  d.host.advance(250);
  d.host.mem.fill(0, DATA, DATA + 8);
  t.equal((await d.admin(get(Fid.TIMESTAMP))).st, 1);
  t.equal(v.getUint32(DATA, true), 1_000_250);
  t.equal((d.host.mem[DATA + 6]! >> 1) & 7, 1, 'origin: set by the host');
});

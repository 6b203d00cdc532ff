// NVME-ADM: Get Log Page — Error (01h), SMART (02h) with real counters, Firmware Slot (03h), Changed NS (04h), EBS
// statistics (D0h), offsets, lengths and invalid pages.
import t from 'tap';
import { TestDriver, DATA } from '../driver.ts';
import { AdminOpc, IoOpc, Lid } from '../../../../src/devices/nvme/regs.ts';
import { EBS_STATS_MAGIC, EbsStatsLog, QueueStatsLog, SmartLog } from '../../../../src/devices/nvme/log-pages.ts';

/** Get Log Page of `bytes` bytes at byte `offset`. */
const glp = (lid: number, bytes: number, extra: { nsid?: number; offset?: number; rae?: boolean } = {}) => {
  const numd = bytes / 4 - 1;
  return {
    opc: AdminOpc.GET_LOG_PAGE, nsid: extra.nsid ?? 0xffffffff, prp1: DATA, prp2: DATA + 4096,
    cdw10: lid | (extra.rae === true ? 1 << 15 : 0) | ((numd & 0xffff) << 16), cdw11: numd >>> 16,
    cdw12: extra.offset ?? 0,
  };
};
const u64 = (d: TestDriver, addr: number) => d.host.view.getUint32(addr, true) + d.host.view.getUint32(addr + 4, true) * 2 ** 32;

t.test('SMART / Health counts host commands, data units, errors and power cycles', async (t) => {
  const d = new TestDriver();
  await d.ready();
  for (let i = 0; i < 3; i++) await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA, cdw12: 7 }), d.next(1));
  await (d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA }), d.next(1));
  await (d.submit(1, { opc: IoOpc.READ, nsid: 9, prp1: DATA }), d.next(1)); // an error
  d.host.advance(2 * 3600 * 1000);
  const c = await d.admin(glp(Lid.SMART, 512));
  t.equal(c.st, 1);
  const O = SmartLog.offset;
  t.equal(d.host.view.getUint16(DATA + O.compositeTemperature, true) > 273, true, 'temperature in kelvin');
  t.equal(d.host.mem[DATA + O.availableSpare], 100);
  t.equal(u64(d, DATA + O.dataUnitsWritten), 1, '12 KiB written = 1 data unit (rounded up)');
  t.equal(u64(d, DATA + O.dataUnitsRead), 1);
  t.equal(u64(d, DATA + O.hostWriteCommands), 3);
  t.equal(u64(d, DATA + O.hostReadCommands), 1);
  t.equal(u64(d, DATA + O.powerCycles), 1);
  t.equal(u64(d, DATA + O.powerOnHours), 2);
  t.equal(u64(d, DATA + O.errorLogEntries), 1);
});

t.test('Error Information entries are newest first with SQID, CID, status and LBA', async (t) => {
  const d = new TestDriver();
  await d.ready();
  const cid = d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, cdw10: 5000 });
  await d.next(1);
  t.equal((await d.admin(glp(Lid.ERROR_INFO, 128))).st, 1);
  t.equal(u64(d, DATA), 1, 'error count');
  t.equal(d.host.view.getUint16(DATA + 8, true), 1, 'SQID');
  t.equal(d.host.view.getUint16(DATA + 10, true), cid, 'CID');
  t.equal(d.host.view.getUint16(DATA + 12, true), 0x8100, 'status field (phase bit 0)');
  t.equal(u64(d, DATA + 16), 5000, 'LBA');
  t.equal(d.host.view.getUint32(DATA + 24, true), 1, 'NSID');
  t.equal(u64(d, DATA + 64), 0, 'second entry empty');
});

t.test('Firmware Slot Information names slot 1 active with the firmware revision', async (t) => {
  const d = new TestDriver({ firmware: 'NL-1.2.3' });
  d.enable();
  t.equal((await d.admin(glp(Lid.FIRMWARE_SLOT, 512))).st, 1);
  t.equal(d.host.mem[DATA], 1);
  t.equal(Buffer.from(d.host.mem.subarray(DATA + 8, DATA + 16)).toString('latin1'), 'NL-1.2.3');
});

t.test('EBS statistics page D0h: magic, counters, histograms and queue length', async (t) => {
  const d = new TestDriver();
  await d.ready();
  d.host.advance(1); // commands now take 0 µs on the stepped clock except where we advance mid-flight
  d.backend.hold();
  d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, cdw12: 7 });
  await d.host.settle();
  d.host.advance(0.1); // 100 µs in flight
  d.backend.release();
  await d.next(1);
  await (d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA, cdw12: 0 }), d.next(1));
  const c = await d.admin(glp(Lid.EBS_STATS, 4096, { nsid: 1 }));
  t.equal(c.st, 1);
  const O = EbsStatsLog.offset;
  t.equal(d.host.view.getUint32(DATA + O.magic, true), EBS_STATS_MAGIC);
  t.equal(u64(d, DATA + O.totalReadOps), 1);
  t.equal(u64(d, DATA + O.totalWriteOps), 1);
  t.equal(u64(d, DATA + O.totalReadBytes), 4096);
  t.equal(u64(d, DATA + O.totalWriteBytes), 512);
  t.equal(u64(d, DATA + O.totalReadTime), 100);
  t.equal(u64(d, DATA + O.volumeQueueLength), 0);
  const rh = DATA + O.readHistogram;
  t.equal(u64(d, rh), 28, 'num_bins');
  // 100 µs falls in bin 6 = [64, 128).
  const bin = (i: number) => rh + 8 + i * 24;
  t.same([u64(d, bin(6)), u64(d, bin(6) + 8), d.host.view.getUint32(bin(6) + 16, true)], [64, 128, 1]);
  t.equal(d.host.view.getUint32(DATA + O.writeHistogram + 8 + 16, true), 1, 'the write took < 2 µs: bin 0');
  t.equal((await d.admin(glp(Lid.EBS_STATS, 4096, { nsid: 2 }))).st, 0x8017, 'inactive NSID');
});

t.test('EBS statistics are not offered by the instance-store personality', async (t) => {
  const d = new TestDriver({ personality: 'instance-store' });
  await d.ready();
  t.equal((await d.admin(glp(Lid.EBS_STATS, 4096, { nsid: 1 }))).st, 0x8213);
});

t.test('offsets, lengths beyond the log, and invalid log pages', async (t) => {
  const d = new TestDriver();
  d.enable();
  d.host.mem.fill(0xff, DATA, DATA + 8192);
  t.equal((await d.admin(glp(Lid.FIRMWARE_SLOT, 8, { offset: 8 }))).st, 1, 'DWORD-aligned offset');
  t.equal(d.host.mem[DATA], '1'.charCodeAt(0), 'FRS1 starts at byte 8');
  t.equal((await d.admin(glp(Lid.FIRMWARE_SLOT, 1024))).st, 1, 'longer than the log');
  t.ok(d.host.mem.subarray(DATA + 512, DATA + 1024).every((b) => b === 0), 'bytes past the log read as zeros');
  t.equal((await d.admin(glp(Lid.SMART, 8, { offset: 2 }))).st, 0x8005, 'offset not DWORD aligned');
  t.equal((await d.admin(glp(Lid.SMART, 8, { offset: 512 }))).st, 0x8005, 'offset past the log');
  for (const lid of [0x00, 0x05, 0x7f, 0xc1]) t.equal((await d.admin(glp(lid, 512))).st, 0x8213, `LID ${lid} → Invalid Log Page`);
});

t.test('vendor log C0h counts I/O SQ DMA reads and I/O completions; the admin queue is not counted', async (t) => {
  const d = new TestDriver();
  await d.ready();
  t.equal((await d.admin(glp(Lid.QUEUE_STATS, QueueStatsLog.size))).st, 1);
  const O = QueueStatsLog.offset;
  t.same([u64(d, DATA + O.ioSqDmaReads), u64(d, DATA + O.sqePushed), u64(d, DATA + O.ioCqePosted)], [0, 0, 0], 'only admin commands so far');
  t.equal(QueueStatsLog.size, 512);
});

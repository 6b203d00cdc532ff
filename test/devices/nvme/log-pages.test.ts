// Log page layouts: SMART (specs.md §2.8), Error Information entries, EBS statistics (reference/nitro.md §3.2).
import t from 'tap';
import { EbsHistogram, EbsStatsLog, ErrorLog, ErrorLogEntry, FirmwareSlotLog, SmartLog, buildChangedNsList } from '../../../src/devices/nvme/log-pages.ts';

t.test('SMART / Health offsets match specs.md §2.8', async (t) => {
  const O = SmartLog.offset;
  t.equal(SmartLog.size, 512);
  t.same(
    [O.criticalWarning, O.compositeTemperature, O.availableSpare, O.availableSpareThreshold, O.percentageUsed,
      O.dataUnitsRead, O.dataUnitsWritten, O.hostReadCommands, O.hostWriteCommands, O.controllerBusyTime,
      O.powerCycles, O.powerOnHours, O.unsafeShutdowns, O.mediaErrors, O.errorLogEntries,
      O.warningTemperatureTime, O.criticalTemperatureTime, O.temperatureSensors],
    [0, 1, 3, 4, 5, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 196, 200],
  );
});

t.test('Error Information entry is 64 bytes; firmware slot log 512', async (t) => {
  t.equal(ErrorLogEntry.size, 64);
  t.same([ErrorLogEntry.offset.sqid, ErrorLogEntry.offset.cid, ErrorLogEntry.offset.status, ErrorLogEntry.offset.lba, ErrorLogEntry.offset.nsid], [8, 10, 12, 16, 24]);
  t.equal(FirmwareSlotLog.offset.frs, 8);
});

t.test('EBS statistics page: 4096 bytes, counters at 8..96, histograms at 512 and 2056', async (t) => {
  const O = EbsStatsLog.offset;
  t.equal(EbsStatsLog.size, 4096);
  t.same(
    [O.magic, O.totalReadOps, O.totalWriteOps, O.totalReadBytes, O.totalWriteBytes, O.totalReadTime, O.totalWriteTime,
      O.ebsVolumePerformanceExceededIops, O.ebsVolumePerformanceExceededTp, O.ec2InstanceEbsPerformanceExceededIops,
      O.ec2InstanceEbsPerformanceExceededTp, O.volumeQueueLength, O.readHistogram, O.writeHistogram, O.rsvd3600],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 512, 2056, 3600],
  );
  t.equal(EbsHistogram.size, 8 + 64 * 24);
});

t.test('the error log keeps the newest entries first and drops the oldest past capacity', async (t) => {
  const log = new ErrorLog(2);
  log.add(1, 1, 10, 0x80, 5, 1);
  log.add(2, 1, 11, 0x80, 6, 1);
  log.add(3, 2, 12, 0x80, -1, 1);
  const out = new Uint8Array(128);
  t.equal(log.build(out), 128);
  const v = new DataView(out.buffer);
  t.same([v.getUint32(0, true), v.getUint16(10, true), v.getUint32(64, true)], [3, 12, 2]);
});

t.test('a changed namespace list longer than 1024 reports FFFFFFFFh', async (t) => {
  const out = new Uint8Array(4096);
  buildChangedNsList(Array.from({ length: 1025 }, (_, i) => i + 1), out);
  t.equal(new DataView(out.buffer).getUint32(0, true), 0xffffffff);
});

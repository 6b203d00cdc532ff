// Latency bins and metric names.
import t from 'tap';
import { ADMIN_CMD_METRIC, IO_CMD_METRIC, IoStats, binLower, binUpper, histogramBin, statusMetric } from '../../../src/devices/nvme/metrics.ts';

t.test('latency bins are powers of two in µs, the last one open-ended', async (t) => {
  t.same([histogramBin(0), histogramBin(1.9), histogramBin(2), histogramBin(100), histogramBin(1e12)], [0, 0, 1, 6, 27]);
  t.same([binLower(0), binUpper(0), binLower(6), binUpper(6)], [0, 2, 64, 128]);
  const s = new IoStats();
  s.recordRead(4096, 100);
  t.same([s.readOps, s.readBytes, s.readTimeUs, s.readHistogram[6]], [1, 4096, 100, 1]);
});

t.test('metric names are precomputed per opcode and status', async (t) => {
  t.equal(ADMIN_CMD_METRIC[6], 'nvme.cmd.admin.identify');
  t.equal(IO_CMD_METRIC[2], 'nvme.cmd.io.read');
  t.equal(IO_CMD_METRIC[0xab], 'nvme.cmd.io.0xab');
  t.equal(statusMetric(0x4080), 'nvme.status.lba-out-of-range');
});

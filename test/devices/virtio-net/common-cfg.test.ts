// The common cfg register table: order, widths, and each register's read/write rules on a stand-in state.
import t from 'tap';
import { COMMON_REGS, commonRead, commonWrite, queueRegsAtReset, validQueueSize, type CommonCfgState } from '../../../src/devices/virtio-net/common-cfg.ts';
import { CommonCfg, Status, VIRTIO_MSI_NO_VECTOR } from '../../../src/devices/virtio-net/regs.ts';

function state(): CommonCfgState & { errors: string[]; statusWrites: number[] } {
  const s = {
    offeredFeatures: (1n << 32n) | 0b101n,
    queues: [queueRegsAtReset(128), queueRegsAtReset(64)],
    deviceFeatureSelect: 0, driverFeatureSelect: 0, driverFeatures: 0n, configMsixVector: VIRTIO_MSI_NO_VECTOR, queueSelect: 0,
    status: 0, configGeneration: 0x1ff,
    errors: [] as string[], statusWrites: [] as number[],
    writeStatus(v: number) { s.statusWrites.push(v); s.status = v; },
    acceptVector: (v: number) => (v < 4 || v === VIRTIO_MSI_NO_VECTOR ? v : VIRTIO_MSI_NO_VECTOR),
    driverError(reason: string) { s.errors.push(reason); },
  };
  return s;
}
const O = CommonCfg.offset;

t.test('the table follows the structure order with spec widths', async (t) => {
  t.same(COMMON_REGS.map((r) => r.name), Object.keys(O));
  t.same(COMMON_REGS.map((r) => r.bytes), Object.keys(O).map((k) => CommonCfg.sizeOf[k as keyof typeof O]));
});

t.test('device_feature shows the selected 32 bits', async (t) => {
  const s = state();
  t.equal(commonRead(s, O.device_feature, 4), 0b101);
  commonWrite(s, O.device_feature_select, 4, 1);
  t.equal(commonRead(s, O.device_feature, 4), 1);
  commonWrite(s, O.device_feature, 4, 0xffff);
  t.equal(s.offeredFeatures, (1n << 32n) | 0b101n, 'device_feature is read-only');
});

t.test('driver_feature writes the selected half only', async (t) => {
  const s = state();
  commonWrite(s, O.driver_feature, 4, 0xffff_ffff);
  commonWrite(s, O.driver_feature_select, 4, 1);
  commonWrite(s, O.driver_feature, 4, 1);
  t.equal(s.driverFeatures, (1n << 32n) | 0xffff_ffffn);
  commonWrite(s, O.driver_feature_select, 4, 0);
  commonWrite(s, O.driver_feature, 4, 4);
  t.equal(s.driverFeatures, (1n << 32n) | 4n);
});

t.test('device_status goes through writeStatus; config_generation is one byte, read-only', async (t) => {
  const s = state();
  commonWrite(s, O.device_status, 1, Status.ACKNOWLEDGE);
  t.same(s.statusWrites, [1]);
  t.equal(commonRead(s, O.config_generation, 1), 0xff);
  commonWrite(s, O.config_generation, 1, 0);
  t.equal(s.configGeneration, 0x1ff);
});

t.test('queue_size, queue_enable, notify_off follow queue_select', async (t) => {
  const s = state();
  t.equal(commonRead(s, O.queue_size, 2), 128);
  commonWrite(s, O.queue_select, 2, 1);
  t.equal(commonRead(s, O.queue_size, 2), 64);
  t.equal(commonRead(s, O.queue_notify_off, 2), 1);
  commonWrite(s, O.queue_enable, 2, 0);
  t.same(s.errors, ['queue-enable-not-one']);
  commonWrite(s, O.queue_enable, 2, 1);
  t.equal(commonRead(s, O.queue_enable, 2), 1);
  commonWrite(s, O.queue_device, 4, 0x1000);
  t.equal(commonRead(s, O.queue_device, 4), 0, 'frozen once enabled');
  t.equal(s.errors.at(-1), 'queue-write-after-enable');
});

t.test('64-bit fields take two aligned dword accesses', async (t) => {
  const s = state();
  commonWrite(s, O.queue_driver, 4, 0xdead_b000);
  commonWrite(s, O.queue_driver + 4, 4, 0x12);
  t.same(s.queues[0]?.driver, [0xdead_b000, 0x12]);
  commonWrite(s, O.queue_driver + 2, 2, 0);
  t.equal(s.errors.at(-1), 'common-cfg-bad-access');
});

t.test('queue_reset reads 0 (RING_RESET not offered)', async (t) => {
  const s = state();
  commonWrite(s, O.queue_reset, 2, 1);
  t.equal(commonRead(s, O.queue_reset, 2), 0);
});

t.test('validQueueSize accepts powers of two up to the maximum', async (t) => {
  t.same([1, 2, 64, 128].map((n) => validQueueSize(n, 128)), [true, true, true, true]);
  t.same([0, 3, 96, 256].map((n) => validQueueSize(n, 128)), [false, false, false, false]);
});

// virtio-net behind the real PCI function model: the shared device contract, and the virtio vendor capabilities
// walked through config space as a Linux driver finds them (virtio 1.2 §4.1.4; specs.md §3.2).
import t from 'tap';
import { buildRig, runDeviceContract } from '../../helpers/device-contract.ts';
import { walkCapabilities, CapId } from '../../../src/devices/pcie/capabilities.ts';
import { Command } from '../../../src/devices/pcie/config-space.ts';
import { VirtioNet } from '../../../src/devices/virtio-net/net.ts';
import { Bar4, CfgType, CommonCfg, NetConfig, Status, VirtioPciCap, VirtioPciNotifyCap } from '../../../src/devices/virtio-net/regs.ts';
import type { DeviceContext } from '../../../src/devices/contract.ts';

const make = (ctx: DeviceContext): VirtioNet => new VirtioNet({ ctx, backend: { transmit: () => {} }, mac: '02:00:00:00:00:01', queueSize: 64 });

t.test('virtio-net passes the shared device contract', async (t) => {
  await runDeviceContract(t, make, { unknownBarOffsets: [{ bar: 4, offset: Bar4.SIZE - 4 }, { bar: 4, offset: Bar4.ISR_OFFSET + 0x100 }] });
});

t.test('the vendor capabilities are found by walking config space', async (t) => {
  const { fn } = buildRig(make);
  const found = walkCapabilities((o) => fn.configRead(o, 1)).filter((c) => c.id === CapId.VENDOR);
  const o = VirtioPciCap.offset;
  const caps = found.map(({ offset }) => ({
    type: fn.configRead(offset + o.cfg_type, 1),
    bar: fn.configRead(offset + o.bar, 1),
    len: fn.configRead(offset + o.cap_len, 1),
    offset: fn.configRead(offset + o.offset, 4),
    length: fn.configRead(offset + o.length, 4),
    at: offset,
  }));
  t.same(caps.map((c) => c.type), [CfgType.COMMON, CfgType.NOTIFY, CfgType.ISR, CfgType.DEVICE, CfgType.PCI_CFG]);
  const common = caps[0]!;
  t.same([common.bar, common.offset, common.length], [4, Bar4.COMMON_OFFSET, CommonCfg.size]);
  const notify = caps[1]!;
  t.equal(notify.len, 20);
  t.equal(fn.configRead(notify.at + VirtioPciNotifyCap.offset.notify_off_multiplier, 4), Bar4.NOTIFY_OFF_MULTIPLIER);
  t.same([caps[3]!.offset, caps[3]!.length], [Bar4.DEVICE_OFFSET, NetConfig.size]);
  for (const c of caps) t.equal(c.at % 4, 0, `cap at 0x${c.at.toString(16)} is dword aligned`);

  // Use what the caps say, through the function's BAR decoding, as a driver would.
  fn.configWrite(0x04, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
  t.equal(fn.barRead(common.bar, common.offset + CommonCfg.offset.num_queues, 2), 2, 'num_queues through BAR4');
  fn.barWrite(common.bar, common.offset + CommonCfg.offset.device_status, 1, Status.ACKNOWLEDGE);
  t.equal(fn.barRead(common.bar, common.offset + CommonCfg.offset.device_status, 1), Status.ACKNOWLEDGE);
  t.equal(fn.barRead(4, caps[3]!.offset + NetConfig.offset.mac, 1), 0x02, 'MAC through the DEVICE cap');
});

t.test('an FLR through the PCI Express capability resets the virtio status', async (t) => {
  const { fn } = buildRig(make);
  fn.configWrite(0x04, 2, Command.MEMORY_SPACE);
  fn.barWrite(4, CommonCfg.offset.device_status, 1, Status.ACKNOWLEDGE | Status.DRIVER);
  fn.reset();
  fn.configWrite(0x04, 2, Command.MEMORY_SPACE);
  t.equal(fn.barRead(4, CommonCfg.offset.device_status, 1), 0);
});

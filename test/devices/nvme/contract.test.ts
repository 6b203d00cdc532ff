// The shared device contract (test/helpers/device-contract.ts) run against the NVMe controller inside a PciFunction.
import t from 'tap';
import { runDeviceContract } from '../../helpers/device-contract.ts';
import { NvmeController } from '../../../src/devices/nvme/nvme.ts';

t.test('the NVMe controller (EBS personality) passes the device contract', async (t) => {
  await runDeviceContract(t, (ctx) => new NvmeController(ctx), {
    unknownBarOffsets: [{ bar: 0, offset: 0x18 }, { bar: 0, offset: 0x6c }, { bar: 0, offset: 0xffc }, { bar: 0, offset: 0x1000 }],
  });
});

t.test('the instance-store personality with 4 queues passes it too', async (t) => {
  await runDeviceContract(t, (ctx) => new NvmeController(ctx, { personality: 'instance-store', ioQueues: 4 }), { seed: 0x1234 });
});

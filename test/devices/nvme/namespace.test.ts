// Namespace geometry from the backend size and LBA size.
import t from 'tap';
import { Namespace } from '../../../src/devices/nvme/namespace.ts';
import { MemBackendStandIn } from './mem-backend.ts';

t.test('NSZE and LBADS follow from the volume size and the LBA size', async (t) => {
  const ns = new Namespace(1, new MemBackendStandIn(1 << 20), 4096);
  t.same([ns.nsze, ns.lbads, ns.stats.readOps], [256, 12, 0]);
});

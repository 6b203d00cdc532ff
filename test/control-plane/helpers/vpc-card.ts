// A card management API built from the real card code (buildMgmtApi + the VPC routes over a VpcDataplane) with a
// stand-in for the instance part, so control-plane tests see VPC pushes where a card receives them.
import type { Test } from 'tap';
import { buildMgmtApi, type CardApi } from '../../../src/nitro-card/mgmt-api.ts';
import { CardInstance, type LaunchRequest } from '../../../src/nitro-card/instances.ts';
import { VpcDataplane } from '../../../src/nitro-card/vpc/dataplane.ts';
import { vpcMgmtRoutes } from '../../../src/nitro-card/vpc/mgmt-routes.ts';
import { createRootLogger } from '../../../src/common/log.ts';

const TOKEN = 'test-card-token-0123456789';

export async function vpcCard(t: Test, hostId = 'host-0') {
  const log = createRootLogger({ name: 'test-card', level: 'silent' });
  const plane = new VpcDataplane({ hostId, log: { debug() {}, info() {}, warn() {}, error() {} } });
  plane.setUnderlay({ local: { address: '127.9.9.9', port: 6081 }, send() {} });
  const launched: LaunchRequest[] = [];
  const instances = new Map<string, CardInstance>();
  const card: CardApi = {
    info: () => ({ hostId, mode: 'offload', link: 'socket', firmware: { version: '1', sha256: 'x' }, capacity: { vcpus: 64, memMiB: 65536 }, usage: { vcpus: 0, memMiB: 0, instances: 0 } }),
    async launch(req) {
      launched.push(req);
      const inst = new CardInstance(req);
      instances.set(req.instanceId, inst);
      if (req.network) plane.addEni({ ...req.network, instanceId: req.instanceId }, () => {});
      return inst;
    },
    get: (id) => instances.get(id),
    async terminate(id) {
      const inst = instances.get(id)!;
      inst.moveTo('terminated', 'test');
      if (inst.req.network) plane.removeEni(inst.req.network.eniId);
      return inst;
    },
    async consoleInput() {},
  };
  const api = await buildMgmtApi(card, TOKEN, log, [vpcMgmtRoutes(plane, t.testdir())]);
  await api.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => api.close());
  const addr = api.server.address() as { port: number };
  return { plane, launched, endpoint: { hostId, url: `http://127.0.0.1:${addr.port}`, token: TOKEN } };
}

// MGMT-*: the card's management requests to the hypervisor (docs/link-protocol.md §9, messages.ts MgmtRequest), as
// observed by the suite playing the hypervisor while the card launches a test instance (--mgmt/--token).
import { LinkError } from '../../devices/pcie/link/errors.ts';
import { LinkErrno } from '../../devices/pcie/link/messages.ts';
import type { SuiteContext } from '../context.ts';
import { pollUntil } from '../wait.ts';
import { Skip, check, defineGroup } from '../types.ts';

const LP = 'docs/link-protocol.md §9 management channel';
const OPS = new Set(['hello', 'create-vm', 'assign-vf', 'unassign-vf', 'iommu-map', 'iommu-unmap', 'start-vm', 'stop-vm', 'reboot-vm', 'destroy-vm', 'console-input', 'stats', 'create-device', 'destroy-device']);

function launched(ctx: SuiteContext) {
  if (ctx.opts.mgmt === undefined) throw new Skip('no --mgmt URL/--token given: the suite launched no instance');
  const l = ctx.launched;
  check(l !== undefined && l.error === undefined, `launch failed: ${l?.error ?? 'not attempted'}`);
  return l;
}

export const MGMT_CASES = defineGroup('MGMT', [
  { n: 1, level: 'M', clause: `${LP}; docs/conformance.md §3.1`, title: 'a launch sends create-vm, then assign-vf and iommu-map per function, then start-vm',
    async run(ctx) {
      const l = launched(ctx);
      const ops = ctx.session.mgmtLog.filter((r) => 'vmId' in r ? r.vmId === l.instanceId : r.op === 'create-vm' && r.vm.vmId === l.instanceId).map((r) => r.op);
      check(ops[0] === 'create-vm', `first request ${ops[0]}`);
      check(ops[ops.length - 1] === 'start-vm', `last request ${ops[ops.length - 1]}`);
      check(l.fns.length >= 1, 'no assign-vf');
      check(ops.filter((o) => o === 'iommu-map').length >= l.fns.length, 'fewer iommu-map than assign-vf');
    } },
  { n: 2, level: 'M', clause: LP, title: 'every management request names a known op',
    async run(ctx) {
      launched(ctx);
      const bad = ctx.session.mgmtLog.filter((r) => !OPS.has(r.op));
      check(bad.length === 0, `unknown ops: ${bad.map((r) => r.op).join(',')}`);
    } },
  { n: 3, level: 'O', clause: LP, title: 'iommu-map windows lie inside the memory create-vm asked for',
    async run(ctx) {
      const l = launched(ctx);
      const vm = ctx.session.mgmtLog.find((r) => r.op === 'create-vm' && r.vm.vmId === l.instanceId);
      check(vm?.op === 'create-vm', 'no create-vm');
      for (const r of ctx.session.mgmtLog) {
        if (r.op !== 'iommu-map' || r.vmId !== l.instanceId) continue;
        check(r.gpa >= 0 && r.size > 0 && r.gpa + r.size <= vm.vm.memBytes, `window gpa ${r.gpa}+${r.size} beyond ${vm.vm.memBytes}`);
      }
    } },
  { n: 4, level: 'M', clause: `${LP}; card management API DELETE /mgmt/v1/instances/:id`, title: 'terminating the instance sends destroy-vm and its functions disappear (ENODEV)',
    async run(ctx) {
      const l = launched(ctx);
      const m = ctx.opts.mgmt;
      if (m === undefined) throw new Skip('no --mgmt');
      const status = await ctx.session.terminate(m);
      check(status === 200, `DELETE answered HTTP ${status}`);
      check(await pollUntil(() => ctx.session.mgmtLog.some((r) => r.op === 'destroy-vm' && r.vmId === l.instanceId), ctx.timeoutMs), 'no destroy-vm');
      // The card may close the functions after destroy-vm (ours does, one by one): wait for each, bounded.
      const rc = await ctx.open('mgmt-004');
      for (const fn of l.fns) {
        const gone = await pollUntil(async () => {
          const e = await rc.getInfo(fn).then(() => undefined, (x: unknown) => x);
          return e instanceof LinkError && e.errno === LinkErrno.ENODEV;
        }, ctx.timeoutMs);
        check(gone, `fn ${fn} still answers ${ctx.timeoutMs} ms after destroy-vm`);
      }
      rc.close();
    } },
]);

// Card crash recovery (docs/reliability.md § card crash and restart). At start, before the link is served, every
// journalled instance (instance-journal.ts) is rebuilt with its functions under the same numbers — NVMe controllers
// come back in reset state (CC.EN = 0) over freshly opened block-store connections — so a host that reconnects finds
// the functions its guests' drivers know, re-binds them and the guests reset their controllers and carry on.
// Whenever the hypervisor says hello (after either side restarted) its VM list is compared with the card's instances:
//
//   card instance          hypervisor VM              outcome
//   pending / running      running / booting          kept (pending → running once the guest runs)
//   pending / running      none                       stopped, Server.InternalError (VM lost); volumes kept, startable
//   pending / running      created / halted / crashed stopped (the launch or the guest ended while the card was away)
//   stopping               any                        the stop is finished → stopped
//   shutting-down          any                        the termination is finished → terminated
//   stopped / terminated   present                    the stray VM is destroyed
//   —                      present                    reported (logged, `unknownVms` in GET /mgmt/v1/card), left alone
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { HelloVm } from '../devices/pcie/link/messages.ts';
import { CardInstance } from './instances.ts';
import type { InstanceRecord } from './instance-journal.ts';
import type { InstanceLifecycle } from './lifecycle.ts';

/** Rebuild one instance from its record; `recreate` re-creates its functions unless it was terminated. */
export async function restoreInstance(rec: InstanceRecord, o: { log: Logger; recreate(rec: InstanceRecord, log: Logger): Promise<void> }): Promise<CardInstance> {
  const inst = new CardInstance(rec.req);
  inst.launchedAt = rec.launchedAt;
  inst.transitions.splice(0, inst.transitions.length, ...rec.transitions);
  inst.state = rec.state;
  inst.stateReason = rec.stateReason;
  inst.guestMemBytes = rec.guestMemBytes;
  inst.functions.push(...rec.assigned);
  const log = o.log.child({ instanceId: rec.req.instanceId });
  if (rec.state !== 'terminated') {
    try {
      await o.recreate(rec, log);
    } catch (e) {
      // A volume whose export cannot be opened leaves the instance without that function; reconcile decides the rest.
      log.error({ event: 'restore-functions-failed', err: (e as Error).message }, `functions of ${rec.req.instanceId} not fully restored: ${(e as Error).message}`);
    }
  }
  log.info({ event: 'instance-restored', state: rec.state, fns: rec.fns.map((f) => f.fn) }, `restored ${rec.req.instanceId} (${rec.state}) with function(s) ${rec.fns.map((f) => f.fn).join(', ') || 'none'}`);
  return inst;
}

/** Settle each instance against the hypervisor's VMs (table above); returns the VM ids the card does not know. */
export function reconcileInstances(
  instances: readonly CardInstance[], vms: readonly HelloVm[],
  o: { log: Logger; lifecycle: InstanceLifecycle; teardown(instanceId: string): Promise<void> },
): string[] {
  const byId = new Map(vms.map((v) => [v.vmId, v]));
  for (const inst of instances) {
    const id = inst.req.instanceId;
    const vm = byId.get(id);
    byId.delete(id);
    o.lifecycle.recover(inst, vm, () => o.teardown(id));
  }
  const unknown = [...byId.keys()];
  for (const vmId of unknown) o.log.warn({ event: 'reconcile-unknown-vm', vmId }, `the hypervisor runs VM ${vmId}, which this card has no record of; left alone`);
  o.log.info({ event: 'reconciled', instances: instances.length, vms: vms.length, unknown: unknown.length }, `reconciled ${instances.length} instance(s) with ${vms.length} VM(s) on the host`);
  return unknown;
}

/** Console output is not journalled (it is diagnostics, and the ring lives in memory), but its absolute end offset is
 *  checkpointed once a second (a plain write: a process crash keeps the page cache), so that after a restart each
 *  ring continues past every offset a reader may already hold: checkpoint + CONSOLE_RESUME_GAP. */
export const CONSOLE_RESUME_GAP = 1 << 20;

export class ConsoleCheckpoints {
  private readonly saved = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dir: string, instances: () => Iterable<CardInstance>, private readonly log: Logger) {
    this.timer = setInterval(() => {
      for (const inst of instances()) {
        const id = inst.req.instanceId;
        const end = inst.console.end;
        if (this.saved.get(id) === end || inst.state === 'terminated') continue;
        try {
          writeFileSync(join(this.dir, `${id}.console`), String(end));
          this.saved.set(id, end);
        } catch (e) {
          this.log.warn({ event: 'console-checkpoint-failed', instanceId: id, err: (e as Error).message }, `console checkpoint of ${id} failed`);
        }
      }
    }, 1000);
    this.timer.unref();
  }

  /** Where a restored instance's console continues. */
  resume(inst: CardInstance): void {
    try {
      const at = Number(readFileSync(join(this.dir, `${inst.req.instanceId}.console`), 'utf8'));
      if (Number.isSafeInteger(at) && at >= 0) inst.console.resumeAt(at + CONSOLE_RESUME_GAP);
    } catch { /* no checkpoint yet: the ring starts at 0 */ }
  }

  close(): void { clearInterval(this.timer); }
}

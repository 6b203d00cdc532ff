// Instance lifecycle on the card, with EC2 semantics (reference/nitro.md §5, API_InstanceState):
//
//   launch ─▶ pending(0) ─▶ running(16) ─stop─▶ stopping(64) ─▶ stopped(80) ─start─▶ pending(0) ─▶ running …
//                              │  ▲ reboot (stays running)                 │
//                              └──┴─terminate─▶ shutting-down(32) ─▶ terminated(48) ◀──terminate──┘
//
// A stop is an orderly shutdown request (ACPI-like power button; the guest quiesces its drivers) forced after a grace
// period; then the hypervisor destroys the VM (guest RAM is lost, as on EC2) and the card resets the instance's PCI
// functions but keeps them and their backends, so the EBS volumes and their data are there on the next start. A guest
// that powers itself off is stopped the same way (EC2's default "instance-initiated shutdown behaviour": stop).
// Lifecycle calls answer at once with the new state; the work runs in the background, one operation per instance.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { HelloVm, MgmtRequest } from '../devices/pcie/link/messages.ts';
import { CardError } from './mgmt-api.ts';
import type { CardFunction } from './functions.ts';
import type { CardInstance, InstanceState } from './instances.ts';

/** EC2 StateReason codes and messages. */
export const REASON = {
  userShutdown: 'Client.UserInitiatedShutdown: User initiated shutdown',
  instanceShutdown: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
  guestCrashed: 'Server.InternalError: the guest crashed',
  startFailed: 'Server.InternalError: the instance could not be started',
  vmLost: 'Server.InternalError: the instance was not running on its host when the card reconnected (host or card restart)',
  launchCut: 'Server.InternalError: the launch was cut short by a card restart',
} as const;

/** What the lifecycle needs of the card service. */
export interface LifecycleHost {
  readonly log: Logger;
  readonly dataDir: string;
  readonly shutdownGraceMs: number;
  readonly firstSlot: number;
  /** Send one management command to the hypervisor; a refusal throws CardError. */
  command(req: MgmtRequest): Promise<unknown>;
  functionsOf(instanceId: string): readonly CardFunction[];
  /** Why `inst` does not fit on this host right now, or undefined if it does. */
  noRoomFor(inst: CardInstance): string | undefined;
}

export interface StopOptions {
  /** Skip the orderly shutdown request (EC2 StopInstances Force). */
  force?: boolean;
  reason?: string;
}

interface OpState { chain: Promise<void>; busy: string | undefined }

export function incorrectState(inst: CardInstance, op: string): CardError {
  return new CardError('IncorrectInstanceState', 409, `The instance ${inst.req.instanceId} is ${inst.state}; it cannot be ${op}`);
}

export class InstanceLifecycle {
  readonly #ops = new WeakMap<CardInstance, OpState>();

  constructor(private readonly host: LifecycleHost) {}

  /** True while a stop, start, reboot or terminate of `inst` is in progress. */
  busy(inst: CardInstance): string | undefined {
    return this.#ops.get(inst)?.busy;
  }

  /** Create the VM, assign the functions at slots 3…, map the VM's RAM for each (IOVA = GPA) and start it. */
  async bootVm(inst: CardInstance): Promise<void> {
    const id = inst.req.instanceId;
    await this.host.command({ op: 'create-vm', vm: { vmId: id, vcpus: inst.req.vcpus, memBytes: inst.guestMemBytes, userData: inst.req.userData } });
    inst.functions.length = 0;
    for (const [i, f] of this.host.functionsOf(id).entries()) {
      const slot = this.host.firstSlot + i;
      await this.host.command({ op: 'assign-vf', vmId: id, fn: f.fn, slot });
      // The VF may DMA anywhere in its VM's RAM (the hypervisor programs the IOMMU; identity IOVA = GPA).
      await this.host.command({ op: 'iommu-map', vmId: id, fn: f.fn, iova: 0, gpa: 0, size: inst.guestMemBytes, write: true });
      inst.functions.push({ fn: f.fn, slot, kind: f.kind, ...(f.volumeId !== undefined ? { volumeId: f.volumeId } : {}) });
    }
    await this.host.command({ op: 'start-vm', vmId: id });
  }

  /** Stop a running instance: stopping now, stopped once the guest is down. Stopping a stopped one is a no-op. */
  stop(inst: CardInstance, o: StopOptions = {}): CardInstance {
    if (inst.state === 'stopping' || inst.state === 'stopped') return inst;
    if (inst.state !== 'running') throw incorrectState(inst, 'stopped');
    this.#beginStop(inst, o.reason ?? REASON.userShutdown, o.force === true);
    return inst;
  }

  /** Start a stopped instance: pending now, running once the guest has booted. Starting a live one is a no-op. */
  start(inst: CardInstance): CardInstance {
    if (inst.state === 'pending' || inst.state === 'running') return inst;
    if (inst.state !== 'stopped' || this.busy(inst) !== undefined) throw incorrectState(inst, 'started');
    const noRoom = this.host.noRoomFor(inst);
    if (noRoom !== undefined) throw new CardError('InsufficientCapacity', 409, noRoom);
    inst.moveTo('pending', 'start requested');
    this.#run(inst, 'start', async (log) => {
      try {
        await this.bootVm(inst);
        log.info({ event: 'instance-started' }, `started ${inst.req.instanceId}`);
      } catch (e) {
        log.error({ event: 'start-failed', err: (e as Error).message }, `start of ${inst.req.instanceId} failed: ${(e as Error).message}`);
        await this.#destroyVm(inst);
        this.#resetFunctions(inst);
        if (inst.state === 'pending') inst.moveTo('stopped', `${REASON.startFailed}: ${(e as Error).message}`);
      }
    });
    return inst;
  }

  /** Reboot a running instance: orderly shutdown (forced after the grace period), function reset, power on. The
   *  instance stays running, as on EC2. */
  reboot(inst: CardInstance): CardInstance {
    if (inst.state !== 'running') throw incorrectState(inst, 'rebooted');
    if (this.busy(inst) === 'reboot') return inst;
    this.#run(inst, 'reboot', async (log) => {
      const out = await this.host.command({ op: 'stop-vm', vmId: inst.req.instanceId, force: false, graceMs: this.host.shutdownGraceMs, reason: 'reboot' });
      this.#resetFunctions(inst);
      inst.console.append(`\r\n[card] reboot (${outcomeOf(out)} shutdown)\r\n`);
      await this.host.command({ op: 'start-vm', vmId: inst.req.instanceId });
      log.info({ event: 'instance-rebooted', shutdown: outcomeOf(out) }, `rebooted ${inst.req.instanceId}`);
    });
    return inst;
  }

  /** Terminate: shutting-down now; orderly shutdown, VM destroyed, functions closed, volumes marked
   *  DeleteOnTermination deleted, then terminated. `teardown` closes the functions. */
  terminate(inst: CardInstance, teardown: () => Promise<void>): CardInstance {
    if (inst.state === 'terminated' || inst.state === 'shutting-down') return inst;
    const wasRunning = inst.state === 'running';
    inst.moveTo('shutting-down', REASON.userShutdown);
    this.#run(inst, 'terminate', async (log) => {
      if (wasRunning) await this.#orderlyStop(inst, REASON.userShutdown, false, log);
      await teardown();
      this.#deleteOnTermination(inst, log);
      inst.moveTo('terminated', REASON.userShutdown);
    });
    return inst;
  }

  #deleteOnTermination(inst: CardInstance, log: Logger): void {
    for (const v of inst.req.volumes) {
      if (v.deleteOnTermination !== true) continue;
      rmSync(join(this.host.dataDir, 'volumes', `${v.volumeId}.img`), { force: true });
      log.info({ event: 'volume-deleted', volumeId: v.volumeId }, `deleted ${v.volumeId} (DeleteOnTermination)`);
    }
  }

  /** The hypervisor reported the guest down without being asked (poweroff from the console, or a crash). */
  onGuestDown(inst: CardInstance, state: 'halted' | 'crashed', detail: string): void {
    if (inst.state !== 'running' || this.busy(inst) !== undefined) return; // our own stop/reboot/terminate
    this.host.log.info({ event: 'instance-initiated-shutdown', instanceId: inst.req.instanceId, state, detail }, `guest of ${inst.req.instanceId} ${state}: ${detail}`);
    this.#beginStop(inst, state === 'halted' ? REASON.instanceShutdown : `${REASON.guestCrashed}: ${detail}`, false);
  }

  /** After a card restart or a hypervisor (re)connect (recovery.ts): settle an instance whose operation was cut
   *  short or whose VM is not on the host. `vm` is the hypervisor's view, undefined if it has no such VM. */
  recover(inst: CardInstance, vm: HelloVm | undefined, teardown: () => Promise<void>): void {
    if (this.busy(inst) !== undefined) return;
    const id = inst.req.instanceId;
    switch (inst.state) {
      case 'pending':
      case 'running':
        if (vm === undefined) {
          this.host.log.warn({ event: 'instance-vm-lost', instanceId: id, was: inst.state }, `${id} was ${inst.state} but its host has no VM for it: stopped`);
          this.#resetFunctions(inst);
          inst.moveTo('stopped', REASON.vmLost);
        } else if (vm.state === 'created') {
          this.#beginStop(inst, REASON.launchCut, true);
        } else if (vm.state === 'halted' || vm.state === 'crashed') {
          this.#beginStop(inst, vm.state === 'halted' ? REASON.instanceShutdown : REASON.guestCrashed, true);
        } else if (vm.state === 'running' && inst.state === 'pending') {
          inst.moveTo('running', 'guest booted');
        }
        return;
      case 'stopping':
        this.#beginStop(inst, inst.stateReason, false);
        return;
      case 'shutting-down':
        this.#run(inst, 'terminate', async (log) => {
          if (vm !== undefined) await this.#orderlyStop(inst, REASON.userShutdown, false, log);
          await teardown();
          this.#deleteOnTermination(inst, log);
          inst.moveTo('terminated', inst.stateReason);
        });
        return;
      case 'stopped':
      case 'terminated':
        if (vm !== undefined) {
          this.host.log.warn({ event: 'instance-stray-vm', instanceId: id, state: inst.state }, `${id} is ${inst.state} but its host still has its VM: destroying it`);
          void this.#destroyVm(inst);
        }
        return;
    }
  }

  /** Wait for the instance's background operations (tests, shutdown). */
  async settled(inst: CardInstance): Promise<void> {
    await this.#ops.get(inst)?.chain;
  }

  #beginStop(inst: CardInstance, reason: string, force: boolean): void {
    inst.moveTo('stopping', reason);
    this.#run(inst, 'stop', async (log) => {
      const outcome = await this.#orderlyStop(inst, reason, force, log);
      if (inst.state !== 'stopping') return; // terminated meanwhile
      inst.moveTo('stopped', outcome === 'forced' && !force ? `${reason} (forced after ${this.host.shutdownGraceMs} ms)` : reason);
    });
  }

  /** Shut the guest down (orderly unless forced), destroy the VM (its RAM is gone), reset the functions. */
  async #orderlyStop(inst: CardInstance, reason: string, force: boolean, log: Logger): Promise<string> {
    let outcome = 'not-running';
    try {
      outcome = outcomeOf(await this.host.command({ op: 'stop-vm', vmId: inst.req.instanceId, force, graceMs: this.host.shutdownGraceMs, reason }));
    } catch (e) {
      // The hypervisor is gone or lost the VM: there is no guest left to stop.
      log.warn({ event: 'stop-vm-failed', err: (e as Error).message }, `stop-vm of ${inst.req.instanceId} failed: ${(e as Error).message}`);
    }
    await this.#destroyVm(inst);
    this.#resetFunctions(inst);
    log.info({ event: 'instance-stopped', shutdown: outcome, reason }, `${inst.req.instanceId} is down (${outcome} shutdown)`);
    return outcome;
  }

  async #destroyVm(inst: CardInstance): Promise<void> {
    try {
      await this.host.command({ op: 'destroy-vm', vmId: inst.req.instanceId });
    } catch (e) {
      const code = e instanceof CardError ? e.code : undefined;
      if (code !== 'VmNotFound') this.host.log.warn({ event: 'destroy-vm-failed', instanceId: inst.req.instanceId, code }, (e as Error).message);
    }
  }

  /** Function-level reset of every function of the instance: no DMA or interrupt from the old power cycle survives. */
  #resetFunctions(inst: CardInstance): void {
    for (const f of this.host.functionsOf(inst.req.instanceId)) f.pci.reset();
  }

  #run(inst: CardInstance, op: string, work: (log: Logger) => Promise<void>): void {
    const st = this.#ops.get(inst) ?? { chain: Promise.resolve(), busy: undefined };
    this.#ops.set(inst, st);
    st.busy = op;
    const log = this.host.log.child({ instanceId: inst.req.instanceId, op });
    const next = st.chain.then(() => work(log)).catch((e: unknown) => {
      log.error({ event: 'lifecycle-failed', err: (e as Error).stack }, `${op} of ${inst.req.instanceId} failed: ${(e as Error).message}`);
    }).finally(() => { if (st.chain === next) st.busy = undefined; });
    st.chain = next;
  }
}

function outcomeOf(result: unknown): string {
  const o = (result as { outcome?: unknown } | undefined)?.outcome;
  return typeof o === 'string' ? o : 'not-running';
}

/** States in which an instance holds host capacity (vCPUs and memory). Stopped and terminated ones do not. */
export function holdsCapacity(state: InstanceState): boolean {
  return state !== 'stopped' && state !== 'terminated';
}

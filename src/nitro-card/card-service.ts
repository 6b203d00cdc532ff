// The card service: boots (security chip), then serves the management API and the PCIe link. It creates one PCI
// function per device an instance gets (an NVMe controller per EBS volume, …), commands the hypervisor over the
// private management channel to create the VM, assign the functions and map their IOMMU windows, and keeps each
// instance's state and console. It is the single source of truth for what runs on its host.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Logger } from '../common/log.ts';
import type { MgmtEvent, MgmtReply, MgmtRequest } from '../devices/pcie/link/messages.ts';
import { CardError, type CardApi } from './mgmt-api.ts';
import { CardInstance, type LaunchRequest } from './instances.ts';
import { createEduFunction, createNvmeFunction, createVirtioNetFunction, type CardFunction, type FunctionFabric } from './functions.ts';
import { VpcDataplane } from './vpc/dataplane.ts';
import { LegacyFunctions } from './legacy-functions.ts';
import type { CardMetrics } from './metrics.ts';
import type { NvmeController } from '../devices/nvme/index.ts';
import type { DeviceContext } from '../devices/contract.ts';
import { EbsVolumes, EBS_HOTPLUG_NN } from './ebs/volumes.ts';
import { holdsCapacity, InstanceLifecycle, type StopOptions } from './lifecycle.ts';
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../host/guest-shutdown.ts';
import { InstanceJournal, type InstanceRecord, type JournalFunction } from './instance-journal.ts';
import type { HelloVm } from '../devices/pcie/link/messages.ts';
import { ConsoleCheckpoints, reconcileInstances, restoreInstance } from './recovery.ts';

/** The management channel to the hypervisor (over the PCIe link). */
export interface HypervisorChannel {
  request(req: MgmtRequest): Promise<MgmtReply>;
  /** Legacy mode: post one frame to the hypervisor's virtio-net model of `fn` (NET_FRAME); false if the link is down. */
  netFrame?(fn: number, frame: Uint8Array): boolean;
}

export interface CardServiceOptions {
  hostId: string;
  dataDir: string;
  mode: 'offload' | 'legacy';
  link: 'socket' | 'shm';
  /** I/O trace sampler given to this card's NVMe controllers (telemetry.ts). */
  trace?: DeviceContext['trace'];
  capacity: { vcpus: number; memMiB: number };
  /** Guest RAM the emulator actually allocates per instance (instance-type memory is scaled down to this). */
  guestMemBytes: number;
  firmware: { version: string; sha256: string; name?: string; signer?: string };
  /** This boot of the card (start.ts): its number since the data dir was made, and when it started. */
  boot?: CardBoot;
  log: Logger;
  metrics: CardMetrics;
  /** Block store base URL for EBS volumes (`nbd://host:port`); absent = sparse files in the data dir. */
  blockstore?: string | undefined;
  /** How long a stop, reboot or terminate waits for the guest's orderly poweroff before forcing it (default 5000). */
  shutdownGraceMs?: number;
}

const FIRST_SLOT = 3;

export interface CardBoot { count: number; at: string }

export class CardService implements CardApi {
  private readonly instances = new Map<string, CardInstance>();
  private readonly functions = new Map<string, CardFunction[]>();
  private hypervisor: HypervisorChannel | undefined;
  private hypervisorReady: Promise<HypervisorChannel>;
  private resolveHypervisor!: (h: HypervisorChannel) => void;
  private nextFn = 1;
  /** Legacy mode: the card's records of the functions whose models the hypervisor runs. */
  private readonly legacy: LegacyFunctions;
  /** Instance records that survive a card crash (instance-journal.ts); restore() and reconcile() use them. */
  private readonly journal: InstanceJournal;
  private readonly consoleCheckpoints: ConsoleCheckpoints;
  /** Launches between their first record and their VM's start: reconcile leaves them alone. */
  private readonly launching = new Set<string>();
  /** VMs the hypervisor reported that this card does not know (reconcile()); shown by GET /mgmt/v1/card. */
  unknownVms: string[] = [];
  attestationProvider: ((nonce: string) => unknown) | undefined;
  /** The VPC data plane: every instance's ENI (docs/vpc.md). start.ts gives it its Geneve underlay. */
  readonly vpc: VpcDataplane;
  /** EBS volumes: backends (NBD to the block store), limits, hot-plug (ebs/volumes.ts). */
  readonly ebs: EbsVolumes;
  /** Stop, start, reboot, terminate (lifecycle.ts). */
  readonly lifecycle: InstanceLifecycle;

  constructor(private readonly opts: CardServiceOptions, private readonly fabric: FunctionFabric) {
    this.hypervisorReady = new Promise((r) => (this.resolveHypervisor = r));
    this.vpc = new VpcDataplane({ hostId: opts.hostId, log: opts.log.child({ component: 'vpc' }) });
    this.legacy = new LegacyFunctions({
      dataDir: opts.dataDir, blockstore: opts.blockstore, metrics: opts.metrics, vpc: this.vpc,
      command: (req) => this.command(req), netFrame: (fn, frame) => this.hypervisor?.netFrame?.(fn, frame) === true,
    });
    this.ebs = new EbsVolumes({ dataDir: opts.dataDir, blockstore: opts.blockstore, log: opts.log, metrics: opts.metrics });
    mkdirSync(join(opts.dataDir, 'volumes'), { recursive: true });
    this.journal = new InstanceJournal(opts.dataDir, opts.log.child({ component: 'journal' }));
    this.consoleCheckpoints = new ConsoleCheckpoints(this.journal.dir, () => this.instances.values(), opts.log);
    this.lifecycle = new InstanceLifecycle({
      log: opts.log,
      dataDir: opts.dataDir,
      shutdownGraceMs: opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
      firstSlot: FIRST_SLOT,
      command: (req) => this.command(req),
      functionsOf: (id) => this.functions.get(id) ?? [],
      noRoomFor: (inst) => this.noRoomFor(inst.req),
    });
  }

  /** The hypervisor announced itself on a link connection: that connection carries the management channel. */
  setHypervisor(ch: HypervisorChannel | undefined): void {
    this.hypervisor = ch;
    if (ch) this.resolveHypervisor(ch);
    else this.hypervisorReady = new Promise((r) => (this.resolveHypervisor = r));
  }

  /** Events the hypervisor reports (console output, guest state). */
  onEvent(ev: MgmtEvent): void {
    if (ev.event === 'hello') return; // connection-level: handled where the link connection is known
    const inst = this.instances.get(ev.vmId);
    if (!inst) {
      this.opts.log.warn({ event: 'mgmt-event-unknown-vm', vmId: ev.vmId }, `event for unknown VM ${ev.vmId}`);
      return;
    }
    if (ev.event === 'console') {
      inst.console.append(ev.data);
      return;
    }
    if (ev.state === 'running' && inst.state === 'pending') inst.moveTo('running', ev.reason);
    else if (ev.state === 'halted' || ev.state === 'crashed') this.lifecycle.onGuestDown(inst, ev.state, ev.reason);
  }

  info() {
    const live = [...this.instances.values()].filter((i) => holdsCapacity(i.state));
    return {
      hostId: this.opts.hostId,
      mode: this.opts.mode,
      link: this.opts.link,
      firmware: this.opts.firmware,
      capacity: this.opts.capacity,
      usage: {
        vcpus: live.reduce((s, i) => s + i.req.vcpus, 0),
        memMiB: live.reduce((s, i) => s + i.req.memMiB, 0),
        instances: live.length,
      },
      hypervisorConnected: this.hypervisor !== undefined,
      // Boot number and time, and how many instance records the journal gave back (> 0 after a crash): the control
      // plane and the panel show card restarts with these.
      ...(this.opts.boot ? { boot: { ...this.opts.boot, restoredInstances: this.restoredInstances } } : {}),
      unknownVms: this.unknownVms,
      instancesByState: Object.fromEntries(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']
        .map((s) => [s, [...this.instances.values()].filter((i) => i.state === s).length])),
    };
  }

  /** Why `req` does not fit next to the instances holding capacity now, or undefined. */
  private noRoomFor(req: { instanceType: string; vcpus: number; memMiB: number }): string | undefined {
    const { usage, capacity } = this.info();
    if (usage.vcpus + req.vcpus <= capacity.vcpus && usage.memMiB + req.memMiB <= capacity.memMiB) return undefined;
    return `host ${this.opts.hostId} has ${capacity.vcpus - usage.vcpus} vCPUs and ${capacity.memMiB - usage.memMiB} MiB left; ${req.instanceType} needs ${req.vcpus} and ${req.memMiB}`;
  }

  get(instanceId: string): CardInstance | undefined {
    return this.instances.get(instanceId);
  }

  private async command(req: MgmtRequest): Promise<unknown> {
    const h = this.hypervisor ?? (await Promise.race([
      this.hypervisorReady,
      new Promise<never>((_, rej) => setTimeout(() => rej(new CardError('HypervisorUnavailable', 503, 'the hypervisor has not connected to this card')), 10_000)),
    ]));
    const reply = await h.request(req);
    if (!reply.ok) throw new CardError(reply.code, 409, `hypervisor refused ${req.op}: ${reply.message}`);
    return reply.result;
  }

  async launch(req: LaunchRequest): Promise<CardInstance> {
    if (this.instances.has(req.instanceId)) throw new CardError('Conflict', 409, `instance ${req.instanceId} already exists`);
    const noRoom = this.noRoomFor(req);
    if (noRoom !== undefined) throw new CardError('InsufficientCapacity', 409, noRoom);
    const inst = new CardInstance(req);
    inst.guestMemBytes = this.opts.guestMemBytes;
    this.instances.set(req.instanceId, inst);
    const fns: CardFunction[] = [];
    this.functions.set(req.instanceId, fns);
    const log = this.opts.log.child({ instanceId: req.instanceId });
    this.launching.add(req.instanceId);
    try {
      for (const vol of req.volumes) {
        const fn = this.nextFn++;
        fns.push(this.opts.mode === 'legacy' ? await this.legacy.nvme(fn, vol, log, true) : await this.nvmeFunction(req.instanceId, vol, fn, fns.length === 0, log));
      }
      if (req.network) fns.push(await this.createEni(req.instanceId, req.network, log));
      for (const _ of req.devices ?? []) fns.push(createEduFunction(this.fabric, { fn: this.nextFn++, log, metrics: this.opts.metrics }));
      this.journalled(inst); // journalled before the VM exists: a card that crashes from here on rebuilds it
      await this.lifecycle.bootVm(inst); // create-vm, assign-vf at slots 3…, iommu-map, start-vm
      this.persist(inst);
      log.info({ event: 'instance-launched', functions: inst.functions }, `launched ${req.instanceId} with ${fns.length} function(s)`);
      return inst;
    } catch (e) {
      log.error({ event: 'launch-failed', err: (e as Error).message }, `launch of ${req.instanceId} failed: ${(e as Error).message}`);
      await this.teardown(req.instanceId).catch(() => {});
      this.instances.delete(req.instanceId);
      this.functions.delete(req.instanceId);
      this.journal.remove(req.instanceId);
      throw e instanceof CardError ? e : new CardError('LaunchFailed', 500, (e as Error).message);
    } finally {
      this.launching.delete(req.instanceId);
    }
  }

  /** An EBS volume's NVMe function over its backend (the block store export, or a sparse file). */
  private async nvmeFunction(instanceId: string, vol: LaunchRequest['volumes'][number], fn: number, first: boolean, log: Logger): Promise<CardFunction> {
    const { backend, url } = await this.ebs.open(vol, log);
    const f = await createNvmeFunction(this.fabric, {
      fn,
      personality: 'ebs',
      volumeId: vol.volumeId,
      deviceName: vol.deviceName,
      sizeBytes: vol.sizeBytes,
      path: join(this.opts.dataDir, 'volumes', `${vol.volumeId}.img`),
      log,
      metrics: this.opts.metrics,
      ...(this.opts.trace ? { trace: this.opts.trace } : {}),
      backend,
      // The first EBS controller also takes hot-plugged volumes as namespaces 2… (docs/block-store.md).
      ...(first ? { maxNamespaces: EBS_HOTPLUG_NN } : {}),
    }).catch(async (e: unknown) => { await backend.close(); throw e; });
    this.ebs.placed(instanceId, vol, fn, f.nvme, backend, url);
    return f;
  }

  // ---- crash recovery (recovery.ts, docs/reliability.md § card crash and restart) --------------------------------

  /** Journal `inst` now and after every state change. */
  private journalled(inst: CardInstance): void {
    inst.onChange = (i) => this.persist(i);
    this.persist(inst);
  }

  private persist(inst: CardInstance): void {
    const id = inst.req.instanceId;
    // A terminated instance needs nothing rebuilt: its record goes, so the journal stays as large as the live set.
    if (inst.state === 'terminated') { this.journal.remove(id); return; }
    const rec: InstanceRecord = {
      version: 1, req: inst.req, state: inst.state, stateReason: inst.stateReason, launchedAt: inst.launchedAt,
      transitions: inst.transitions, guestMemBytes: inst.guestMemBytes, assigned: inst.functions,
      fns: (this.functions.get(id) ?? []).map((f): JournalFunction => ({ fn: f.fn, kind: f.kind, ...(f.volumeId !== undefined ? { volumeId: f.volumeId } : {}) })),
    };
    try {
      this.journal.save(rec);
    } catch (e) {
      this.opts.log.error({ event: 'journal-write-failed', instanceId: id, err: (e as Error).message }, `could not journal ${id}: ${(e as Error).message}`);
      this.opts.metrics.inc('journal.write-failed');
    }
  }

  /** At start, before the link is served: rebuild every journalled instance and its functions (same numbers, the
   *  NVMe controllers in reset state, the volumes' block-store connections reopened). */
  private restoredInstances = 0;

  async restore(): Promise<number> {
    let n = 0;
    for (const rec of this.journal.loadAll()) {
      for (const f of rec.fns) this.nextFn = Math.max(this.nextFn, f.fn + 1);
      const inst = await restoreInstance(rec, {
        log: this.opts.log,
        recreate: (r, log) => this.recreateFunctions(r, log),
      });
      this.consoleCheckpoints.resume(inst);
      inst.console.append(`\r\n[card] the card restarted; instance record restored (${rec.state}); earlier console output is gone\r\n`);
      this.instances.set(rec.req.instanceId, inst);
      inst.onChange = (i) => this.persist(i);
      n++;
    }
    this.restoredInstances = n;
    return n;
  }

  private async recreateFunctions(rec: InstanceRecord, log: Logger): Promise<void> {
    const fns: CardFunction[] = [];
    this.functions.set(rec.req.instanceId, fns);
    for (const jf of rec.fns) {
      if (jf.kind === 'virtio-net') {
        if (rec.req.network) fns.push(await this.createEni(rec.req.instanceId, rec.req.network, log, jf.fn, false));
        continue;
      }
      if (jf.kind !== 'nvme-ebs') { log.warn({ event: 'restore-kind-unsupported', fn: jf.fn, kind: jf.kind }, `fn ${jf.fn} (${jf.kind}) is not re-created after a card restart`); continue; }
      const vol = rec.req.volumes.find((v) => v.volumeId === jf.volumeId);
      if (!vol) { log.error({ event: 'restore-volume-missing', fn: jf.fn, volumeId: jf.volumeId }, `fn ${jf.fn}: volume ${jf.volumeId} is not in the launch record`); continue; }
      fns.push(this.opts.mode === 'legacy' ? await this.legacy.nvme(jf.fn, vol, log, false) : await this.nvmeFunction(rec.req.instanceId, vol, jf.fn, fns.length === 0, log));
    }
  }

  /** The hypervisor said hello (first connect, or again after either side restarted): compare its VMs with ours. */
  reconcile(vms: HelloVm[]): void {
    this.unknownVms = reconcileInstances([...this.instances.values()].filter((i) => !this.launching.has(i.req.instanceId)), vms, {
      log: this.opts.log,
      lifecycle: this.lifecycle,
      teardown: (id) => this.teardown(id),
    });
  }

  /** Legacy mode: a NET_FRAME from the hypervisor's virtio-net model of `fn` (legacy-functions.ts). */
  netFromHost(fn: number, frame: Uint8Array): boolean {
    return this.legacy.netFromHost(fn, frame);
  }

  /** Telemetry (telemetry.ts): the hypervisor's stats reply, and the NVMe controllers running on this card. */
  hypervisorStats(): Promise<unknown> {
    return this.command({ op: 'stats' });
  }

  nvmeControllers(): NvmeController[] {
    return [...this.functions.values()].flat().flatMap((f) => ('nvme' in f ? [(f as { nvme: NvmeController }).nvme] : []));
  }

  /** The ENI on the data plane and its virtio-net function (placed after the NVMe functions). In legacy mode the
   *  hypervisor runs the virtio-net model and its frames cross the link as NET_FRAME (`create` = false after a card
   *  restart: the hypervisor still runs it). */
  private async createEni(instanceId: string, network: NonNullable<LaunchRequest['network']>, log: Logger, fn = this.nextFn++, create = true): Promise<CardFunction> {
    let deliver: (frame: Uint8Array) => void = () => {};
    const eni = this.vpc.addEni({ ...network, instanceId }, (frame) => deliver(frame));
    if (this.opts.mode === 'legacy') {
      try {
        const nic = await this.legacy.nic(fn, eni, network, log, create);
        deliver = nic.deliver;
        return nic.fn;
      } catch (e) {
        this.vpc.removeEni(network.eniId);
        throw e;
      }
    }
    try {
      const f = createVirtioNetFunction(this.fabric, {
        fn, eniId: network.eniId, mac: network.macAddress, log, metrics: this.opts.metrics,
        backend: { transmit: (frame) => this.vpc.fromGuest(eni, frame) },
      });
      deliver = (frame) => { void f.net.receive(frame); };
      return { ...f, close: async () => { this.vpc.removeEni(network.eniId); await f.close(); } };
    } catch (e) {
      this.vpc.removeEni(network.eniId);
      throw e;
    }
  }

  private async teardown(instanceId: string): Promise<void> {
    if (this.hypervisor) {
      const r = await this.hypervisor.request({ op: 'destroy-vm', vmId: instanceId });
      if (!r.ok && r.code !== 'VmNotFound') this.opts.log.warn({ event: 'destroy-vm-failed', instanceId, code: r.code }, r.message);
    }
    for (const f of this.functions.get(instanceId) ?? []) await f.close();
    this.functions.set(instanceId, []);
    await this.ebs.closeInstance(instanceId);
  }

  /** shutting-down at once; terminated once the guest is down and its functions are closed (lifecycle.ts). */
  async terminate(instanceId: string): Promise<CardInstance> {
    return this.lifecycle.terminate(this.mustGet(instanceId), () => this.teardown(instanceId));
  }

  async stop(instanceId: string, o: StopOptions = {}): Promise<CardInstance> {
    return this.lifecycle.stop(this.mustGet(instanceId), o);
  }

  async start(instanceId: string): Promise<CardInstance> {
    return this.lifecycle.start(this.mustGet(instanceId));
  }

  async reboot(instanceId: string): Promise<CardInstance> {
    return this.lifecycle.reboot(this.mustGet(instanceId));
  }

  private mustGet(instanceId: string): CardInstance {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new CardError('InstanceNotFound', 404, `instance ${instanceId} is not on this card`);
    return inst;
  }

  async consoleInput(instanceId: string, data: string): Promise<void> {
    await this.command({ op: 'console-input', vmId: instanceId, data });
  }

  attestation(nonce: string): unknown {
    if (!this.attestationProvider) throw new CardError('NotSupported', 501, 'attestation is not available on this card');
    return this.attestationProvider(nonce);
  }

  async close(): Promise<void> {
    this.consoleCheckpoints.close();
    for (const id of this.functions.keys()) for (const f of this.functions.get(id) ?? []) await f.close().catch(() => {});
  }
}

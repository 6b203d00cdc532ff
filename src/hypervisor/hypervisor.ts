// The thin hypervisor: obeys the card's management commands (create VM, assign VFs, map IOMMU windows, start, stop,
// destroy) and nothing else. It opens no sockets of its own and never initiates a command: its only outward messages
// are replies and the events the card consumes (console output, guest state). Guest memory is allocated here and
// handed to the pCPU worker that runs the VM.
import type { Logger } from '../common/log.ts';
import type { HelloVm, MgmtEvent, MgmtReply, MgmtRequest, VmSpec } from '../devices/pcie/link/messages.ts';
import { assertNever } from '../devices/brand.ts';
import type { PcpuPool } from './pcpu-pool.ts';
import { DEFAULT_SHUTDOWN_GRACE_MS, MAX_SHUTDOWN_GRACE_MS } from '../host/guest-shutdown.ts';

function graceOf(graceMs: number | undefined): number {
  if (graceMs === undefined) return DEFAULT_SHUTDOWN_GRACE_MS;
  if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_SHUTDOWN_GRACE_MS) {
    throw new HypervisorError('InvalidParameter', `graceMs ${graceMs} is not an integer from 0 to ${MAX_SHUTDOWN_GRACE_MS}`);
  }
  return graceMs;
}

export interface VmRecord {
  spec: VmSpec;
  mem: SharedArrayBuffer;
  pcpu: number;
  functions: Map<number, number>; // fn → slot
  state: 'created' | 'booting' | 'running' | 'halted' | 'crashed';
}

export class HypervisorError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class Hypervisor {
  readonly vms = new Map<string, VmRecord>();
  /** Adds to the 'stats' reply (CPU attribution, exits, I/O: src/hypervisor/telemetry.ts). */
  statsHook: ((pcpus: unknown[]) => Record<string, unknown>) | undefined;

  constructor(
    private readonly pool: PcpuPool,
    private readonly log: Logger,
    private readonly limits: { maxGuestMemBytes: number; totalMemBytes: number },
  ) {}

  /** The VMs this host runs, for the hello after a (re)connect to the card (docs/reliability.md). */
  helloVms(): HelloVm[] {
    return [...this.vms.values()].map((v) => ({ vmId: v.spec.vmId, state: v.state, fns: [...v.functions.keys()] }));
  }

  /** Feed events from the pool back to whoever reports them to the card. */
  onGuestState(vmId: string, state: VmRecord['state']): void {
    const vm = this.vms.get(vmId);
    if (vm) vm.state = state;
  }

  async handle(req: MgmtRequest): Promise<MgmtReply> {
    try {
      return { ok: true, result: await this.dispatch(req) };
    } catch (e) {
      const code = e instanceof HypervisorError ? e.code : ((e as { code?: string }).code ?? 'InternalError');
      this.log.warn({ event: 'mgmt-command-failed', op: req.op, code, err: (e as Error).message }, `management ${req.op} failed: ${(e as Error).message}`);
      return { ok: false, code, message: (e as Error).message };
    }
  }

  private vm(vmId: string): VmRecord {
    const vm = this.vms.get(vmId);
    if (!vm) throw new HypervisorError('VmNotFound', `no VM ${vmId} on this host`);
    return vm;
  }

  private async dispatch(req: MgmtRequest): Promise<unknown> {
    switch (req.op) {
      case 'hello':
        return { pcpus: this.pool.size, vms: this.vms.size };
      case 'create-vm': {
        const { vm } = req;
        if (this.vms.has(vm.vmId)) throw new HypervisorError('VmExists', `VM ${vm.vmId} already exists`);
        if (!Number.isInteger(vm.memBytes) || vm.memBytes < 1 << 20 || vm.memBytes > this.limits.maxGuestMemBytes || vm.memBytes % 4096 !== 0) {
          throw new HypervisorError('InvalidMemory', `guest memory ${vm.memBytes} bytes must be a multiple of 4096 in 1 MiB..${this.limits.maxGuestMemBytes}`);
        }
        const used = [...this.vms.values()].reduce((s, v) => s + v.spec.memBytes, 0);
        if (used + vm.memBytes > this.limits.totalMemBytes) throw new HypervisorError('InsufficientMemory', `host has ${this.limits.totalMemBytes - used} bytes of guest memory left, VM wants ${vm.memBytes}`);
        const mem = new SharedArrayBuffer(vm.memBytes);
        const pcpu = this.pool.place(vm.vmId, vm.vcpus);
        const rec: VmRecord = { spec: vm, mem, pcpu, functions: new Map(), state: 'created' };
        this.vms.set(vm.vmId, rec);
        try {
          await this.pool.call(vm.vmId, { type: 'create-vm', vmId: vm.vmId, mem, userData: vm.userData, hostname: `ip-${vm.vmId.slice(2, 10)}`, vcpus: vm.vcpus });
        } catch (e) {
          this.vms.delete(vm.vmId);
          this.pool.release(vm.vmId, vm.vcpus);
          throw e;
        }
        this.log.info({ event: 'vm-created', vmId: vm.vmId, pcpu, memBytes: vm.memBytes }, `created VM ${vm.vmId} on pCPU ${pcpu}`);
        return { pcpu };
      }
      case 'assign-vf': {
        const vm = this.vm(req.vmId);
        if ([...vm.functions.values()].includes(req.slot)) throw new HypervisorError('SlotInUse', `slot ${req.slot} of ${req.vmId} is taken`);
        await this.pool.call(req.vmId, { type: 'assign-vf', vmId: req.vmId, fn: req.fn, slot: req.slot });
        vm.functions.set(req.fn, req.slot);
        return {};
      }
      case 'unassign-vf': {
        const vm = this.vm(req.vmId);
        await this.pool.call(req.vmId, { type: 'unassign-vf', vmId: req.vmId, fn: req.fn });
        vm.functions.delete(req.fn);
        return {};
      }
      case 'iommu-map': {
        const vm = this.vm(req.vmId);
        if (req.gpa < 0 || req.size <= 0 || req.gpa + req.size > vm.spec.memBytes) {
          throw new HypervisorError('InvalidMapping', `window gpa 0x${req.gpa.toString(16)}+0x${req.size.toString(16)} is outside ${req.vmId}'s ${vm.spec.memBytes} bytes`);
        }
        if (!vm.functions.has(req.fn)) throw new HypervisorError('FunctionNotAssigned', `fn ${req.fn} is not assigned to ${req.vmId}`);
        await this.pool.call(req.vmId, { type: 'iommu-map', vmId: req.vmId, fn: req.fn, iova: req.iova, gpa: req.gpa, size: req.size, write: req.write });
        return {};
      }
      case 'iommu-unmap':
        this.vm(req.vmId);
        await this.pool.call(req.vmId, { type: 'iommu-unmap', vmId: req.vmId, fn: req.fn, iova: req.iova, size: req.size });
        return {};
      case 'start-vm': {
        const vm = this.vm(req.vmId);
        vm.state = 'booting';
        await this.pool.call(req.vmId, { type: 'start-vm', vmId: req.vmId });
        return {};
      }
      case 'stop-vm': {
        const vm = this.vm(req.vmId);
        const result = await this.pool.call(req.vmId, {
          type: 'stop-vm', vmId: req.vmId, force: req.force === true, graceMs: graceOf(req.graceMs), reason: req.reason ?? 'stop requested',
        });
        vm.state = 'halted';
        return result;
      }
      case 'reboot-vm': {
        const vm = this.vm(req.vmId);
        const result = await this.pool.call(req.vmId, { type: 'stop-vm', vmId: req.vmId, force: false, graceMs: graceOf(req.graceMs), reason: 'reboot' });
        vm.state = 'booting';
        await this.pool.call(req.vmId, { type: 'start-vm', vmId: req.vmId });
        return result;
      }
      case 'destroy-vm': {
        const vm = this.vm(req.vmId);
        await this.pool.call(req.vmId, { type: 'destroy-vm', vmId: req.vmId });
        this.pool.release(req.vmId, vm.spec.vcpus);
        this.vms.delete(req.vmId);
        this.log.info({ event: 'vm-destroyed', vmId: req.vmId }, `destroyed VM ${req.vmId}`);
        return {};
      }
      case 'console-input':
        this.vm(req.vmId);
        await this.pool.call(req.vmId, { type: 'console-input', vmId: req.vmId, data: req.data });
        return {};
      case 'stats': {
        const pcpus = await this.pool.stats();
        return { vms: this.vms.size, pcpus, ...this.statsHook?.(pcpus) };
      }
      case 'create-device':
      case 'destroy-device':
        throw new HypervisorError('NotSupported', `${req.op}: device models run on the card in offload mode`);
      default:
        return assertNever(req, 'management op');
    }
  }
}

export type { MgmtEvent };

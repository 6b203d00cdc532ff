// Legacy mode (the pre-Nitro dom0/QEMU design, for comparison): the hypervisor runs the device models itself, in the
// host process's main thread. The card stays the management path; it asks for each device with a `create-device`
// MGMT op instead of creating it on its own end of the link. The device code is the card's own (createNvmeFunction
// in src/nitro-card/functions.ts); only its placement differs:
//   - a guest's config/BAR access is a VM exit: the pCPU worker traps it and posts it here (src/host/trap-access.ts);
//     the device model runs, non-posted accesses get a reply;
//   - device DMA is a direct copy into the VM's SharedArrayBuffer through this hypervisor's IOMMU windows;
//   - each MSI-X is an interrupt the hypervisor injects (a message to the worker that runs the VM);
//   - an ENI's virtio-net model sends and receives its frames as NET_FRAME over the hypervisor's link connection: the
//     host's NIC port into the card's VPC data plane, which stays on the card (dom0's bridge to the wire).
// Exits and injections are counted; their CPU shows up as `hypervisor` (exit dispatch) and `device-emulation`; frames
// crossing to the card are `fabric`.
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from '../common/log.ts';
import { DmaFault, type DmaPort } from '../devices/contract.ts';
import type { FunctionPort, PciFunctionHandler } from '../devices/pcie/link/card-port.ts';
import { WindowTable } from '../devices/pcie/link/iommu.ts';
import { LinkCmd, type MgmtReply, type MgmtRequest } from '../devices/pcie/link/messages.ts';
import type { LinkPeer } from '../devices/pcie/link/peer.ts';
import type { VirtioNet } from '../devices/virtio-net/index.ts';
import type { NvmeController } from '../devices/nvme/index.ts';
import { createNvmeFunction, createVirtioNetFunction, type CardFunction } from '../nitro-card/functions.ts';
import { CardMetrics } from '../nitro-card/metrics.ts';
import { FileBackend } from '../nitro-card/ebs/file-backend.ts';
import { openExport } from '../nitro-card/ebs/volumes.ts';
import { limitsFor, ThrottledBackend } from '../nitro-card/ebs/throttle.ts';
import { realClock } from '../common/clock.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import { IoTracer } from '../telemetry/io-trace.ts';
import { ioTotalsOf, type IoTotals } from '../telemetry/io-counters.ts';
import type { ExitMsg, ExitResume } from './exit-messages.ts';
import type { Hypervisor } from './hypervisor.ts';
import type { PcpuPool } from './pcpu-pool.ts';

/** A non-posted access, run against the function's model. */
function access(h: PciFunctionHandler, m: ExitMsg): number {
  switch (m.access) {
    case 'cfg-read': return h.configRead(m.off, m.size);
    case 'cfg-write': h.configWrite(m.off, m.size, m.value); return 0;
    case 'mmio-read': return h.barRead(m.bar, m.off, m.size);
    case 'mmio-write': h.barWrite(m.bar, m.off, m.size, m.value); return 0;
  }
}

interface LegacyFn {
  fn: number;
  /** The VM it is assigned to (assign-vf), if any. */
  vmId: string | undefined;
  handler: PciFunctionHandler | undefined;
  readonly windows: WindowTable;
  device: (CardFunction & ({ nvme: NvmeController } | { net: VirtioNet })) | undefined;
}

export interface LegacyCounters {
  exits: number; exitsByKind: Record<ExitMsg['access'], number>; injections: number; faults: number;
  /** NET_FRAMEs to and from the card; frames for no legacy virtio-net function, or while the link is down, dropped. */
  framesOut: number; framesIn: number; framesDropped: number;
}

type CreateDevice = Extract<MgmtRequest, { op: 'create-device' }>;

export class LegacyDevices {
  readonly counters: LegacyCounters = {
    exits: 0, exitsByKind: { 'cfg-read': 0, 'cfg-write': 0, 'mmio-read': 0, 'mmio-write': 0 }, injections: 0, faults: 0,
    framesOut: 0, framesIn: 0, framesDropped: 0,
  };
  readonly tracer: IoTracer;
  readonly metrics = new CardMetrics();
  readonly #fns = new Map<number, LegacyFn>();
  readonly #ledger = threadLedger();
  /** The hypervisor's connection to the card (its management channel), which carries the legacy NIC's frames. */
  #uplink: LinkPeer | undefined;

  constructor(
    private readonly hv: Hypervisor,
    private readonly pool: PcpuPool,
    private readonly exitPorts: readonly MessagePort[],
    private readonly log: Logger,
    o: { traceEvery?: number } = {},
  ) {
    this.tracer = new IoTracer({ mode: 'legacy', ...(o.traceEvery !== undefined ? { every: o.traceEvery } : {}) });
    exitPorts.forEach((p) => p.on('message', (m: ExitMsg) => this.#exit(p, m)));
  }

  /** Management requests: device creation here, function set-up for this hypervisor's own functions here, the rest to
   *  the hypervisor. */
  async handle(req: MgmtRequest): Promise<MgmtReply> {
    try {
      switch (req.op) {
        case 'create-device': return { ok: true, result: await this.#create(req) };
        case 'destroy-device': await this.#destroy(req.fn); return { ok: true, result: {} };
        case 'assign-vf':
        case 'unassign-vf':
        case 'iommu-map':
        case 'iommu-unmap':
          if (this.#fns.has(req.fn)) return { ok: true, result: await this.#setUp(req) };
          break;
        case 'stop-vm':
        case 'reboot-vm':
        case 'destroy-vm': {
          // As the card does with its functions: the VM's devices are reset once it is down (FLR), and a destroyed
          // VM's are unassigned; the card closes them with destroy-device.
          const r = await this.hv.handle(req);
          for (const f of this.#fns.values()) {
            if (f.vmId !== req.vmId) continue;
            f.device?.pci.reset();
            if (req.op === 'destroy-vm') { f.vmId = undefined; f.windows.clear(); }
          }
          return r;
        }
        default: break;
      }
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'InternalError';
      this.log.warn({ event: 'legacy-device-failed', op: req.op, code, err: (e as Error).message }, `legacy ${req.op} failed: ${(e as Error).message}`);
      return { ok: false, code, message: (e as Error).message };
    }
    return this.hv.handle(req);
  }

  /** I/O counters of every device model running here. */
  ioTotals(): IoTotals {
    return ioTotalsOf([...this.#fns.values()].flatMap((f) => (f.device && 'nvme' in f.device ? [f.device.nvme] : [])));
  }

  /** The connection to the card that carries NET_FRAMEs (set again after every reconnect). */
  setUplink(peer: LinkPeer): void { this.#uplink = peer; }

  /** A NET_FRAME from the card (the VPC data plane delivering to an ENI): into that virtio-net model's rx queue. */
  netFrame(fn: number, frame: Uint8Array): void {
    const d = this.#fns.get(fn)?.device;
    if (d === undefined || !('net' in d)) {
      this.counters.framesDropped++;
      this.log.debug({ event: 'legacy-frame-dropped', fn }, `NET_FRAME for fn ${fn}, which is no legacy virtio-net function`);
      return;
    }
    this.counters.framesIn++;
    const copy = frame.slice(); // the link reuses its receive buffer
    this.#ledger.run('device-emulation', () => void d.net.receive(copy));
  }

  #frameToCard(fn: number, frame: Uint8Array): void {
    const up = this.#uplink;
    if (up === undefined || !up.isUp) {
      this.counters.framesDropped++;
      return;
    }
    this.counters.framesOut++;
    this.#ledger.run('fabric', () => up.post(LinkCmd.NET_FRAME, fn, frame));
  }

  get deviceCount(): number { return this.#fns.size; }

  async close(): Promise<void> {
    for (const fn of [...this.#fns.keys()]) await this.#destroy(fn).catch(() => {});
  }

  async #create(req: CreateDevice): Promise<{ fn: number }> {
    if (this.#fns.has(req.fn)) throw Object.assign(new Error(`fn ${req.fn} already exists`), { code: 'FunctionExists' });
    const d = req.device;
    if (d.kind !== 'nvme' && d.kind !== 'virtio-net') throw Object.assign(new Error(`cannot emulate a ${String((d as { kind: unknown }).kind)} device`), { code: 'NotSupported' });
    const entry: LegacyFn = { fn: req.fn, vmId: undefined, handler: undefined, windows: new WindowTable(), device: undefined };
    this.#fns.set(req.fn, entry);
    if (d.kind === 'virtio-net') {
      const log = this.log.child({ fn: req.fn, eniId: d.eniId, placement: 'hypervisor' });
      try {
        entry.device = createVirtioNetFunction(this.#fabric(), {
          fn: req.fn, eniId: d.eniId, mac: d.mac, log, metrics: this.metrics,
          backend: { transmit: (frame) => this.#frameToCard(req.fn, frame) },
        });
      } catch (e) {
        this.#fns.delete(req.fn);
        throw e;
      }
      this.log.info({ event: 'legacy-device-created', fn: req.fn, eniId: d.eniId }, `fn ${req.fn}: virtio-net model for ${d.eniId} runs in the hypervisor (legacy mode)`);
      return { fn: req.fn };
    }
    const log = this.log.child({ fn: req.fn, volumeId: d.volumeId, placement: 'hypervisor' });
    try {
      // The volume's limits hold in either mode: EBS enforces them, not the card (src/nitro-card/ebs/throttle.ts).
      const file = d.url !== undefined
        ? await openExport(d.url, d.volumeId, { log, metrics: this.metrics, clock: realClock, timeoutMs: 30_000 })
        : await FileBackend.open(d.path, { sizeBytes: d.sizeBytes });
      const backend = new ThrottledBackend(file, limitsFor(d), realClock, this.metrics.scoped(`ebs.${d.volumeId}`));
      entry.device = await createNvmeFunction(this.#fabric(), {
        fn: req.fn, personality: d.personality, volumeId: d.volumeId, deviceName: d.deviceName, sizeBytes: d.sizeBytes, path: d.path,
        log, metrics: this.metrics, trace: this.tracer.port, backend,
      }).catch(async (e: unknown) => { await backend.close(); throw e; });
    } catch (e) {
      this.#fns.delete(req.fn);
      throw e;
    }
    this.log.info({ event: 'legacy-device-created', fn: req.fn, volumeId: d.volumeId }, `fn ${req.fn}: NVMe model for ${d.volumeId} runs in the hypervisor (legacy mode)`);
    return { fn: req.fn };
  }

  async #destroy(fn: number): Promise<void> {
    const f = this.#fns.get(fn);
    if (!f) return;
    this.#fns.delete(fn);
    await f.device?.close();
  }

  async #setUp(req: Extract<MgmtRequest, { op: 'assign-vf' | 'unassign-vf' | 'iommu-map' | 'iommu-unmap' }>): Promise<unknown> {
    const f = this.#fns.get(req.fn) as LegacyFn;
    const vm = this.hv.vms.get(req.vmId);
    if (!vm) throw Object.assign(new Error(`no VM ${req.vmId} on this host`), { code: 'VmNotFound' });
    if (req.op === 'assign-vf') {
      if (f.vmId !== undefined && f.vmId !== req.vmId) throw Object.assign(new Error(`fn ${req.fn} is assigned to ${f.vmId}`), { code: 'FunctionInUse' });
      if ([...vm.functions.values()].includes(req.slot)) throw Object.assign(new Error(`slot ${req.slot} of ${req.vmId} is taken`), { code: 'SlotInUse' });
      await this.pool.call(req.vmId, { type: 'assign-vf', vmId: req.vmId, fn: req.fn, slot: req.slot, trapped: true });
      vm.functions.set(req.fn, req.slot);
      f.vmId = req.vmId;
      f.windows.clear();
      return {};
    }
    if (f.vmId !== req.vmId) throw Object.assign(new Error(`fn ${req.fn} is not assigned to ${req.vmId}`), { code: 'FunctionNotAssigned' });
    switch (req.op) {
      case 'unassign-vf':
        await this.pool.call(req.vmId, { type: 'unassign-vf', vmId: req.vmId, fn: req.fn });
        vm.functions.delete(req.fn);
        f.vmId = undefined;
        f.windows.clear();
        return {};
      case 'iommu-map':
        if (req.gpa < 0 || req.size <= 0 || req.gpa + req.size > vm.spec.memBytes) {
          throw Object.assign(new Error(`window gpa 0x${req.gpa.toString(16)}+0x${req.size.toString(16)} is outside ${req.vmId}'s memory`), { code: 'InvalidMapping' });
        }
        if (!f.windows.map({ iova: req.iova, size: req.size, gpa: req.gpa, write: req.write, memId: 0 })) {
          throw Object.assign(new Error(`window 0x${req.iova.toString(16)} overlaps`), { code: 'InvalidMapping' });
        }
        return {};
      case 'iommu-unmap':
        f.windows.unmap(req.iova, req.size);
        return {};
    }
  }

  /** The fabric the device code is given: registration here, DMA by direct copy, MSI-X by injection. */
  #fabric() {
    return {
      port: (fn: number): FunctionPort => this.#port(fn),
      registerFunction: (fn: number, handler: PciFunctionHandler): FunctionPort => {
        const f = this.#fns.get(fn);
        if (!f) throw new Error(`invariant: fn ${fn} registered before create-device`);
        f.handler = handler;
        return this.#port(fn);
      },
      unregisterFunction: (fn: number): void => {
        const f = this.#fns.get(fn);
        if (f) f.handler = undefined;
      },
    };
  }

  #port(fn: number): FunctionPort {
    const dma: DmaPort = {
      read: async (addr, dst) => this.#dma(fn, addr, dst, false),
      write: async (addr, src) => this.#dma(fn, addr, src, true),
    };
    return {
      fn,
      dma,
      sendMsi: (address, data, vector) => this.#inject(fn, address, data, vector),
      get bound() { return true; },
      windows: () => this.#fns.get(fn)?.windows.windows() ?? [],
    };
  }

  #dma(fn: number, addr: number, buf: Uint8Array, write: boolean): void {
    const f = this.#fns.get(fn);
    const vm = f?.vmId !== undefined ? this.hv.vms.get(f.vmId) : undefined;
    if (!f || !vm) throw new DmaFault(addr, buf.byteLength, 'link-down');
    const fault = f.windows.walk(addr, buf.byteLength, write);
    if (fault !== null) {
      this.counters.faults++;
      this.log.warn({ event: 'iommu.fault', fn, iova: addr, length: buf.byteLength, write, reason: fault }, 'device DMA outside its IOMMU windows refused');
      throw new DmaFault(addr, buf.byteLength, fault);
    }
    const mem = new Uint8Array(vm.mem);
    f.windows.walk(addr, buf.byteLength, write, (_w, gpa, at, n) => {
      if (write) mem.set(buf.subarray(at, at + n), gpa);
      else buf.set(mem.subarray(gpa, gpa + n), at);
    });
  }

  #inject(fn: number, address: number, data: number, vector: number): void {
    const f = this.#fns.get(fn);
    const vm = f?.vmId !== undefined ? this.hv.vms.get(f.vmId) : undefined;
    const port = vm && this.exitPorts[vm.pcpu];
    if (!port) return;
    this.counters.injections++;
    const m: ExitResume = { type: 'inject', fn, address, data };
    this.#ledger.run('hypervisor', () => port.postMessage(m));
    this.tracer.noteInject(fn, process.hrtime.bigint(), `the hypervisor injects vector ${vector} into the guest on pCPU ${vm.pcpu}`);
  }

  /** One VM exit: dispatch (hypervisor), the device model (device-emulation), the resume. */
  #exit(port: MessagePort, m: ExitMsg): void {
    this.#ledger.enter('hypervisor');
    try {
      this.counters.exits++;
      this.counters.exitsByKind[m.access]++;
      const h = this.#fns.get(m.fn)?.handler;
      let value = 0;
      if (h === undefined) value = m.size === 1 ? 0xff : m.size === 2 ? 0xffff : 0xffff_ffff;
      else if (m.access === 'mmio-write') {
        this.tracer.noteExit({ fn: m.fn, trapNs: m.trapNs, recvNs: process.hrtime.bigint(), detail: `BAR${m.bar}+0x${m.off.toString(16)} = ${m.value}` });
        try {
          this.#ledger.run('device-emulation', () => h.barWrite(m.bar, m.off, m.size, m.value));
        } finally {
          this.tracer.noteExit(undefined);
        }
      } else {
        value = this.#ledger.run('device-emulation', () => access(h, m));
      }
      if (m.id !== 0) port.postMessage({ type: 'resume', id: m.id, value } satisfies ExitResume);
    } catch (e) {
      this.log.error({ event: 'legacy-exit-failed', fn: m.fn, access: m.access, err: (e as Error).message }, `exit handling failed: ${(e as Error).message}`);
      if (m.id !== 0) port.postMessage({ type: 'resume', id: m.id, value: 0xffff_ffff } satisfies ExitResume);
    } finally {
      this.#ledger.leave();
    }
  }
}

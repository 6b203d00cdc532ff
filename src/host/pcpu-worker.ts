// A pCPU worker thread: runs the vCPUs of many guests cooperatively and owns this thread's end of the PCIe link
// (its root complex). Doorbells and MMIO from its guests go straight to the card; DMA and MSI-X from the card land
// here. The hypervisor (main thread) only tells it what to set up.
import { parentPort, workerData } from 'node:worker_threads';
import type { FromPcpu, ToPcpu } from '../hypervisor/pcpu-messages.ts';
import type { WorkerLink } from '../hypervisor/pcpu-pool.ts';
import { VmPlatform } from './vm-platform.ts';
import { openHostLink, type HostLink } from './host-link.ts';
import { TrappedFunctions } from './trap-access.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import type { MessagePort } from 'node:worker_threads';
import type { GuestKernel } from './guest/kernel.ts';
import { shutdownWithGrace } from './guest-shutdown.ts';

if (!parentPort) throw new Error('pcpu-worker must run as a worker thread');
const port = parentPort;
const { index, link: linkCfg, exitPort } = workerData as { index: number; link: WorkerLink; exitPort: MessagePort };
// This thread runs guests: its CPU is the guests' except the regions the link and the trap path mark (telemetry).
const ledger = threadLedger();
ledger.setDefault('guest');

const send = (m: FromPcpu) => port.postMessage(m);
const log = (level: 'debug' | 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string) => send({ type: 'log', level, obj, msg });

interface Vm {
  platform: VmPlatform; running: Promise<void> | undefined; vcpus: number; kernel: GuestKernel | undefined;
  /** Set while the host is shutting the guest down (stop, reboot, destroy), so its poweroff is not reported as the
   *  guest's own decision. */
  shutdownReason: string | undefined;
}
const vms = new Map<string, Vm>();
const byFn = new Map<number, Vm>();

const link: HostLink = await openHostLink(linkCfg, {
  onMsi(fn, address, data) {
    const vm = byFn.get(fn);
    if (vm) vm.platform.deliverMsi(address, data);
    else log('warn', { event: 'msi-for-unknown-fn', fn }, `MSI-X for unassigned function ${fn} dropped`);
  },
  onDown(reason) {
    // Surprise removal: the guests keep running; their reads of card functions return all ones until the link is back.
    log('error', { event: 'link-down', reason }, `pCPU ${index}: link to card is down (${reason}); guests keep running, reconnecting`);
    for (const vm of vms.values()) vm.platform.linkChanged(false);
  },
  onUp({ rebound, lost }) {
    log('warn', { event: 'link-up', rebound, lost }, `pCPU ${index}: link to card is back, ${rebound} function(s) bound again`);
    for (const vm of vms.values()) vm.platform.linkChanged(true);
  },
  log,
});
// Legacy mode: functions whose model runs in the hypervisor are reached by VM exits instead of the link.
const trap = new TrappedFunctions(exitPort, (fn, address, data) => byFn.get(fn)?.platform.deliverMsi(address, data));
link.divert(trap);

function vmOf(vmId: string): Vm {
  const vm = vms.get(vmId);
  if (!vm) throw Object.assign(new Error(`no VM ${vmId} on pCPU ${index}`), { code: 'VmNotFound' });
  return vm;
}

async function boot(vm: Vm): Promise<void> {
  const p = vm.platform;
  // Only the current power cycle reports or touches the VM: a stop may end this one while the guest still boots.
  const current = () => vm.platform === p && !p.halted;
  send({ type: 'vm-state', vmId: p.vmId, state: 'booting', reason: 'start requested' });
  try {
    const { bootGuest } = await import('./guest/kernel.ts');
    const kernel = await bootGuest(p);
    if (!current()) return;
    vm.kernel = kernel;
    send({ type: 'vm-state', vmId: p.vmId, state: 'running', reason: 'guest booted' });
    await Promise.race([kernel.halted, p.whenHalted]);
    if (vm.platform === p) vm.kernel = undefined;
  } catch (e) {
    if (!current()) return;
    log('error', { event: 'guest-crashed', vmId: p.vmId, err: (e as Error).stack }, `guest ${p.vmId} crashed: ${(e as Error).message}`);
    send({ type: 'vm-state', vmId: p.vmId, state: 'crashed', reason: (e as Error).message });
  }
}

/** A platform for one power cycle of a VM. Its poweroff callback halts only itself, so a guest of an earlier cycle
 *  can never reach the current one. */
function newPlatform(vmId: string, mem: SharedArrayBuffer, userData: string, hostname: string): VmPlatform {
  const platform: VmPlatform = new VmPlatform(vmId, mem, userData, hostname, link,
    (text) => send({ type: 'console', vmId, data: text }),
    () => {
      platform.halt();
      const vm = vms.get(vmId);
      if (vm?.platform !== platform) return;
      const requested = vm.shutdownReason;
      send({ type: 'vm-state', vmId, state: 'halted', reason: requested !== undefined ? `shutdown requested: ${requested}` : 'guest powered off' });
    });
  return platform;
}

/** Start a halted VM again (reboot, or start after stop): a new platform on cleared RAM, the same VFs. The old
 *  platform stays halted, so whatever the previous guest still had in flight goes nowhere. */
function powerCycle(vm: Vm): void {
  const old = vm.platform;
  new Uint8Array(old.mem.buffer).fill(0);
  const next = newPlatform(old.vmId, old.mem.buffer as SharedArrayBuffer, old.userData, old.hostname);
  for (const [slot, fn] of old.slotAssignments()) next.assign(fn, slot);
  vm.platform = next;
  vm.kernel = undefined;
}

async function handle(m: ToPcpu): Promise<unknown> {
  switch (m.type) {
    case 'create-vm': {
      const platform = newPlatform(m.vmId, m.mem, m.userData, m.hostname);
      vms.set(m.vmId, { platform, running: undefined, vcpus: m.vcpus, kernel: undefined, shutdownReason: undefined });
      return {};
    }
    case 'assign-vf': {
      const vm = vmOf(m.vmId);
      if (m.trapped === true) trap.add(m.fn);
      else await link.bind(m.fn, vm.platform.mem);
      vm.platform.assign(m.fn, m.slot);
      byFn.set(m.fn, vm);
      return {};
    }
    case 'unassign-vf': {
      const vm = vmOf(m.vmId);
      vm.platform.unassign(m.fn);
      byFn.delete(m.fn);
      return {};
    }
    case 'iommu-map':
      vmOf(m.vmId);
      await link.map(m.fn, m.iova, m.gpa, m.size, m.write);
      return {};
    case 'iommu-unmap':
      vmOf(m.vmId);
      await link.unmap(m.fn, m.iova, m.size);
      return {};
    case 'start-vm': {
      const vm = vmOf(m.vmId);
      if (vm.running) throw Object.assign(new Error(`VM ${m.vmId} is already running`), { code: 'IncorrectState' });
      if (vm.platform.halted) powerCycle(vm);
      vm.shutdownReason = undefined;
      const run: Promise<void> = boot(vm).finally(() => { if (vm.running === run) vm.running = undefined; });
      vm.running = run;
      return {};
    }
    case 'stop-vm':
    case 'destroy-vm': {
      const vm = vmOf(m.vmId);
      const kernel = vm.kernel;
      let outcome: 'orderly' | 'forced' | 'not-running' = kernel ? 'forced' : 'not-running';
      if (kernel && m.type === 'stop-vm' && !m.force) {
        // Orderly first: the guest shuts its drivers down (NVMe CC.SHN); forced after the grace period.
        vm.shutdownReason = m.reason;
        outcome = await shutdownWithGrace(kernel, m.graceMs);
        if (outcome === 'forced') log('warn', { event: 'guest-shutdown-forced', vmId: m.vmId, graceMs: m.graceMs }, `guest ${m.vmId} did not power off within ${m.graceMs} ms; stopping it by force`);
      }
      vm.shutdownReason ??= m.type === 'stop-vm' ? m.reason : 'destroy';
      vm.platform.halt();
      vm.running = undefined; // this power cycle is over; its boot task winds down against a halted platform
      if (m.type === 'destroy-vm') {
        for (const fn of vm.platform.functions()) { byFn.delete(fn); link.unbind(fn); }
        vms.delete(m.vmId);
      }
      return { outcome };
    }
    case 'console-input':
      vmOf(m.vmId).platform.input(m.data);
      return {};
    case 'stats':
      return { pcpu: index, vms: vms.size, cpu: ledger.settle(), trap: trap.counters, msi: link.msiDelivered, link: link.counters, guests: [...vms.values()].map((v) => ({ vmId: v.platform.vmId, ...v.platform.counters })) };
  }
}

port.on('message', (m: ToPcpu) => {
  handle(m).then(
    (result) => send({ type: 'reply', id: m.id, ok: true, result }),
    (e: Error & { code?: string }) => send({ type: 'reply', id: m.id, ok: false, code: e.code ?? 'InternalError', message: e.message }),
  );
});
send({ type: 'ready', index });

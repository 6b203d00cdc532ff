// This pCPU worker's end of the PCIe link: a root complex over a socket connection or shared-memory rings. It
// negotiates the link version, serves the card's DMA through the IOMMU, and hands MSI-X messages to the VMs.
import type { Gpa, Iova } from '../devices/brand.ts';
import type { DeviceLog } from '../devices/contract.ts';
import { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { connectLink } from '../devices/pcie/link/socket-transport.ts';
import { openShmLink } from '../devices/pcie/link/shm-transport.ts';
import type { WorkerLink } from '../hypervisor/pcpu-pool.ts';
import type { FunctionAccess } from './vm-platform.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';

export interface HostLink extends FunctionAccess {
  bind(fn: number, memory: Uint8Array): Promise<void>;
  /** The fn's VM is gone: forget its memory and windows. */
  unbind(fn: number): void;
  map(fn: number, iova: number, gpa: number, size: number, write: boolean): Promise<void>;
  unmap(fn: number, iova: number, size: number): Promise<void>;
  readonly rc: RootComplex;
  /** From now on, accesses to functions `to` has (legacy mode's trapped functions) go to `to` instead of the card. */
  divert(to: FunctionAccess & { has(fn: number): boolean }): void;
  /** MSI-X messages the card delivered over this link so far. */
  readonly msiDelivered: number;
}

export interface HostLinkHooks {
  onMsi(fn: number, address: number, data: number): void;
  onDown(reason: string): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string): void;
}

export async function openHostLink(cfg: WorkerLink, hooks: HostLinkHooks): Promise<HostLink> {
  const log: DeviceLog = {
    debug: () => {},
    info: (o, m) => hooks.log('info', o as Record<string, unknown>, m ?? ''),
    warn: (o, m) => hooks.log('warn', o as Record<string, unknown>, m ?? ''),
    error: (o, m) => hooks.log('error', o as Record<string, unknown>, m ?? ''),
  };
  // CPU attribution (src/telemetry): the link's own work is `fabric` (frame encode/decode, socket or ring I/O, serving
  // the card's DMA by message); the guest's interrupt handler, called from inside it, is the guest's again.
  const ledger = threadLedger();
  const account = <T>(work: () => T): T => ledger.run('fabric', work);
  const peer = cfg.kind === 'socket'
    ? await connectLink(cfg.address, { name: 'pcpu-link', log, account })
    : openShmLink(cfg.desc, { name: 'pcpu-link', log, account });
  const rc = new RootComplex(peer, { log });
  let msiDelivered = 0;
  rc.onMsi = (fn, address, data) => {
    msiDelivered++;
    ledger.run('guest', () => hooks.onMsi(fn, address, data));
  };
  peer.on('down', (reason) => hooks.onDown(reason));
  await rc.negotiate();
  let diverted: (FunctionAccess & { has(fn: number): boolean }) | undefined;
  return {
    rc,
    get msiDelivered() { return msiDelivered; },
    divert(to) { diverted = to; },
    configRead: (fn, off, size) => (diverted?.has(fn) ? diverted.configRead(fn, off, size) : account(() => rc.configRead(fn, off, size))),
    configWrite: (fn, off, size, v) => (diverted?.has(fn) ? diverted.configWrite(fn, off, size, v) : account(() => rc.configWrite(fn, off, size, v))),
    barRead: (fn, bar, off, size) => (diverted?.has(fn) ? diverted.barRead(fn, bar, off, size) : account(() => rc.barRead(fn, bar, off, size))),
    barWrite: (fn, bar, off, size, v) => (diverted?.has(fn) ? diverted.barWrite(fn, bar, off, size, v) : account(() => rc.barWrite(fn, bar, off, size, v))),
    barPush: (fn, bar, off, v, start, entrySize, entries) => (diverted?.has(fn) ? diverted.barWrite(fn, bar, off, 4, v)
      : account(() => rc.barPush(fn, bar, off, v, start, entrySize, entries))),
    bind: (fn, memory) => rc.bind(fn, memory),
    unbind: (fn) => rc.unbind(fn),
    map: (fn, iova, gpa, size, write) => rc.map(fn, iova as Iova, gpa as Gpa, size, write),
    unmap: (fn, iova, size) => rc.unmap(fn, iova as Iova, size),
  };
}

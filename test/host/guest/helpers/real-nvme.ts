// Wires the project's real device models into the guest's TestPlatform stand-in: PciFunction + NvmeController with an
// in-memory backend, DMA straight into the platform's guest RAM, MSI-X delivered through TestPlatform.deliverMsi.
import { DmaFault, type DeviceContext } from '../../../../src/devices/contract.ts';
import { PciFunction } from '../../../../src/devices/pcie/pci-function.ts';
import { NvmeController, type NvmeControllerOptions } from '../../../../src/devices/nvme/nvme.ts';
import { MemBackendStandIn } from '../../../devices/nvme/mem-backend.ts';
import type { TestPlatform } from './test-platform.ts';

export interface RealNvme {
  readonly fn: PciFunction;
  readonly ctrl: NvmeController;
  readonly backend: MemBackendStandIn;
  readonly logs: { level: string; obj: object }[];
}

export function attachRealNvme(p: TestPlatform, slot: number, opts: NvmeControllerOptions = {}, backendBytes = 8 << 20): RealNvme {
  const logs: { level: string; obj: object }[] = [];
  const log = {
    debug: (obj: object) => { logs.push({ level: 'debug', obj }); },
    info: (obj: object) => { logs.push({ level: 'info', obj }); },
    warn: (obj: object) => { logs.push({ level: 'warn', obj }); },
    error: (obj: object) => { logs.push({ level: 'error', obj }); },
  };
  const metrics = { inc: () => {}, observe: () => {} };
  const fn = new PciFunction({ sendMsi: (address, data) => p.deliverMsi(address, data), log, metrics });
  const check = (addr: number, len: number): void => {
    if (addr < 0 || addr + len > p.mem.length) throw new DmaFault(addr, len, 'unmapped');
  };
  const ctx: DeviceContext = {
    dma: {
      read: async (addr, dst) => { p.touch(); check(addr, dst.length); dst.set(p.mem.subarray(addr, addr + dst.length)); },
      write: async (addr, src) => { p.touch(); check(addr, src.length); p.mem.set(src, addr); },
    },
    irq: fn.irq,
    clock: { nowNs: () => p.nowNs(), setTimer: (ms, f) => p.setTimer(ms, f) },
    log,
    metrics,
  };
  const ctrl = new NvmeController(ctx, opts);
  const backend = new MemBackendStandIn(backendBytes);
  ctrl.attachNamespace(1, backend);
  fn.attach(ctrl);
  p.attach(slot, fn);
  return { fn, ctrl, backend, logs };
}

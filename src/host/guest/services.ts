// What the kernel hands a driver at probe, and what a PCI driver looks like to the kernel (bind by class code).
import type { BlockLayer } from './block.ts';
import type { IrqTable } from './irq.ts';
import type { KernelLog } from './klog.ts';
import type { PageAllocator } from './page-alloc.ts';
import type { PciBus, PciDevice } from './pci.ts';
import type { GuestPlatform } from './platform.ts';

export interface KernelServices {
  readonly platform: GuestPlatform;
  readonly log: KernelLog;
  readonly pages: PageAllocator;
  readonly irqs: IrqTable;
  readonly pci: PciBus;
  readonly blocks: BlockLayer;
}

/** A bound driver instance (one per device). */
export interface DriverInstance {
  /** Quiesce the device for poweroff (NVMe: delete queues, CC.SHN, wait SHST). Never throws. */
  shutdown(): Promise<void>;
}

export interface PciDriver {
  readonly name: string;
  matches(dev: PciDevice): boolean;
  /** Bring the device up; rejects if the device cannot be used (the kernel logs it and carries on). */
  probe(dev: PciDevice, k: KernelServices): Promise<DriverInstance>;
}

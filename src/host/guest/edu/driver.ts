// The edu PCI driver: binds nitrolab's edu teaching device by vendor/device id (1D0F:ED00), one EduFunction per
// function found (edu.ts is the driver proper; docs/labs/edu-device.md is the device's spec).
import { EduIdentity } from '../../../devices/edu/regs.ts';
import type { PciDevice } from '../pci.ts';
import type { KernelServices, PciDriver } from '../services.ts';
import { EduFunction } from './edu.ts';

export class EduDriver implements PciDriver {
  readonly name = 'edu';
  readonly devices: EduFunction[] = [];

  /** Match by id, as a Linux pci_device_id table does: the class code (FFh, "other") says nothing useful. */
  matches(dev: PciDevice): boolean {
    return dev.vendorId === EduIdentity.VENDOR_ID && dev.deviceId === EduIdentity.DEVICE_ID;
  }

  async probe(dev: PciDevice, k: KernelServices): Promise<EduFunction> {
    const d = new EduFunction(k, dev);
    try {
      await d.probe();
    } catch (e) {
      await d.shutdown();
      throw e;
    }
    this.devices.push(d);
    return d;
  }
}

// The virtio-net PCI driver: binds modern virtio-net functions (1AF4:1041, specs.md §3.1; any revision), one
// VirtioNetDevice per function, named eth0, eth1… and registered with the IP stack.
import { VirtioNetIdentity } from '../../../devices/virtio-net/regs.ts';
import type { PciDevice } from '../pci.ts';
import type { KernelServices, PciDriver } from '../services.ts';
import type { NetDeviceRegistry } from '../net/netdev.ts';
import { VirtioNetDevice, type VirtioNetOptions } from './net-device.ts';

export class VirtioNetDriver implements PciDriver {
  readonly name = 'virtio-pci';
  readonly devices: VirtioNetDevice[] = [];
  private readonly registry: NetDeviceRegistry;
  private readonly opts: Partial<VirtioNetOptions>;
  private nextInstance = 0;

  constructor(registry: NetDeviceRegistry, opts: Partial<VirtioNetOptions> = {}) {
    this.registry = registry;
    this.opts = opts;
  }

  matches(dev: PciDevice): boolean {
    return dev.vendorId === VirtioNetIdentity.VENDOR_ID && dev.deviceId === VirtioNetIdentity.DEVICE_ID;
  }

  async probe(dev: PciDevice, k: KernelServices): Promise<VirtioNetDevice> {
    const d = new VirtioNetDevice(k, this.registry, dev, this.nextInstance, this.opts);
    await d.probe(); // on failure the interface number is not consumed
    this.nextInstance++;
    this.devices.push(d);
    return d;
  }
}

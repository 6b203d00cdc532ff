// The NVMe PCI driver: binds to class 01/08/02 (specs.md §1.7), one NvmeController per function, named nvme0, nvme1…
import { NvmeController, type NvmeOptions } from './controller.ts';
import type { PciDevice } from '../pci.ts';
import type { KernelServices, PciDriver } from '../services.ts';

export const NVME_CLASS_CODE = 0x010802;

export class NvmeDriver implements PciDriver {
  readonly name = 'nvme';
  readonly controllers: NvmeController[] = [];
  private readonly opts: Partial<NvmeOptions>;
  private nextInstance = 0;

  constructor(opts: Partial<NvmeOptions> = {}) {
    this.opts = opts;
  }

  matches(dev: PciDevice): boolean {
    return dev.classCode === NVME_CLASS_CODE;
  }

  async probe(dev: PciDevice, k: KernelServices): Promise<NvmeController> {
    const ctrl = new NvmeController(k, dev, this.nextInstance, this.opts);
    await ctrl.probe(); // on failure the instance number is not consumed
    this.nextInstance++;
    this.controllers.push(ctrl);
    return ctrl;
  }

  /** `/dev/nvme0`, `nvme0`, or a namespace path `/dev/nvme0n1` (its controller). */
  find(path: string): NvmeController | undefined {
    const m = /^(?:\/dev\/)?(nvme\d+)(?:n\d+)?$/u.exec(path);
    return m ? this.controllers.find((c) => c.name === m[1]) : undefined;
  }
}

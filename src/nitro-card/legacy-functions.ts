// Legacy mode (docs/ARCHITECTURE.md §10) on the card's side: the hypervisor creates and runs the device models
// (`create-device`), and the card keeps only its record of each function — it still numbers, assigns, maps and
// closes them. An EBS volume's NVMe model reaches the volume's export on the block store (the same data the card
// would), or without a block store the volume's file in the card's data dir. An ENI's virtio-net model exchanges
// frames with the card's VPC data plane as NET_FRAME (docs/link-protocol.md §4.2). After a card restart (`create`
// false) the hypervisor still runs the models: only the card's records come back.
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { MgmtRequest } from '../devices/pcie/link/messages.ts';
import type { PciFunction } from '../devices/pcie/pci-function.ts';
import { exportUrlFor } from './ebs/volumes.ts';
import type { CardFunction } from './functions.ts';
import type { LaunchRequest } from './instances.ts';
import type { CardMetrics } from './metrics.ts';
import type { VpcDataplane } from './vpc/dataplane.ts';
import type { Eni } from './vpc/eni.ts';

export interface LegacyFunctionsOptions {
  dataDir: string;
  blockstore: string | undefined;
  metrics: CardMetrics;
  vpc: VpcDataplane;
  /** A management request to the hypervisor (fails with its refusal). */
  command(req: MgmtRequest): Promise<unknown>;
  /** Post a frame to the hypervisor's model of `fn`; false when there is no hypervisor link. */
  netFrame(fn: number, frame: Uint8Array): boolean;
}

export class LegacyFunctions {
  /** The ENIs whose virtio-net model runs in the hypervisor, by function number (their NIC ports). */
  readonly #nics = new Map<number, Eni>();

  constructor(private readonly o: LegacyFunctionsOptions) {}

  async nvme(fn: number, vol: LaunchRequest['volumes'][number], log: Logger, create: boolean): Promise<CardFunction> {
    const limits = vol as { iops?: number | undefined; throughputMiBps?: number | undefined };
    if (create) await this.o.command({
      op: 'create-device', fn, device: {
        kind: 'nvme', personality: 'ebs', volumeId: vol.volumeId, deviceName: vol.deviceName, sizeBytes: vol.sizeBytes,
        path: join(this.o.dataDir, 'volumes', `${vol.volumeId}.img`),
        ...(this.o.blockstore !== undefined ? { url: exportUrlFor(this.o.blockstore, vol.volumeId) } : {}),
        ...(limits.iops !== undefined ? { iops: limits.iops } : {}),
        ...(limits.throughputMiBps !== undefined ? { throughputMiBps: limits.throughputMiBps } : {}),
      },
    });
    log.info({ event: 'legacy-function', fn, volumeId: vol.volumeId }, `fn ${fn}: NVMe for ${vol.volumeId} emulated by the hypervisor (legacy mode)`);
    return this.#record(fn, 'nvme-ebs', vol.volumeId);
  }

  /** The ENI (already on the data plane) gets its model in the hypervisor; returns the function and its delivery. */
  async nic(fn: number, eni: Eni, network: NonNullable<LaunchRequest['network']>, log: Logger, create: boolean): Promise<{ fn: CardFunction; deliver: (frame: Uint8Array) => void }> {
    if (create) await this.o.command({ op: 'create-device', fn, device: { kind: 'virtio-net', eniId: network.eniId, mac: network.macAddress } });
    this.#nics.set(fn, eni);
    log.info({ event: 'legacy-function', fn, eniId: network.eniId }, `fn ${fn}: virtio-net for ${network.eniId} emulated by the hypervisor (legacy mode)`);
    return {
      fn: this.#record(fn, 'virtio-net', undefined, () => { this.#nics.delete(fn); this.o.vpc.removeEni(network.eniId); }),
      deliver: (frame) => { if (!this.o.netFrame(fn, frame)) this.o.metrics.inc('legacy.net.frames_dropped'); },
    };
  }

  /** A NET_FRAME from the hypervisor's model of `fn` enters the VPC data plane from its ENI, exactly as a frame from
   *  the card's own virtio-net function would. False: `fn` is no legacy NIC. */
  netFromHost(fn: number, frame: Uint8Array): boolean {
    const eni = this.#nics.get(fn);
    if (eni === undefined) return false;
    this.o.vpc.fromGuest(eni, frame.slice()); // the link reuses its receive buffer
    return true;
  }

  /** No PCI function here — the hypervisor resets its model when the VM goes down — and closing the record asks the
   *  hypervisor to destroy the model. */
  #record(fn: number, kind: CardFunction['kind'], volumeId?: string, onClose: () => void = () => {}): CardFunction {
    return {
      fn, kind, ...(volumeId !== undefined ? { volumeId } : {}),
      pci: { reset() {} } as unknown as PciFunction,
      close: async () => { onClose(); await this.o.command({ op: 'destroy-device', fn }).catch(() => {}); },
    };
  }
}

// The PCI functions the card creates for an instance. Each is a device model wrapped in a PciFunction, registered
// on the card's end of the link, with a DeviceContext whose DMA and MSI-X go over the connection the function is
// bound on. EBS volumes are NVMe controllers backed (for now) by a sparse file in the card's data dir.
import type { Logger } from '../common/log.ts';
import { limitDeviceLog } from './log-limiter.ts';
import type { DeviceContext } from '../devices/contract.ts';
import { PciFunction } from '../devices/pcie/pci-function.ts';
import type { CardPort } from '../devices/pcie/link/card-port.ts';
import { NvmeController } from '../devices/nvme/index.ts';
import type { BlockBackend } from '../devices/nvme/backend.ts';
import { FileBackend } from './ebs/file-backend.ts';
import type { CardMetrics } from './metrics.ts';
import { realClock } from '../common/clock.ts';
import { VirtioNet, type NetBackend } from '../devices/virtio-net/index.ts';
import { EduDevice } from '../devices/edu/index.ts';

/** Where a function is placed: the card's end of the link, or (legacy mode) the hypervisor (src/hypervisor/legacy-devices.ts). */
export type FunctionFabric = Pick<CardPort, 'port' | 'registerFunction' | 'unregisterFunction'>;

export interface CardFunction {
  readonly fn: number;
  readonly kind: 'nvme-ebs' | 'nvme-instance-store' | 'virtio-net' | 'edu';
  readonly volumeId?: string;
  readonly pci: PciFunction;
  close(): Promise<void>;
}

export interface NvmeFunctionSpec {
  fn: number;
  personality: 'ebs' | 'instance-store';
  volumeId: string;
  deviceName: string;
  sizeBytes: number;
  path: string;
  log: Logger;
  metrics: CardMetrics;
  /** A backend to use instead of the sparse file at `path` (e.g. an NBD client). */
  backend?: BlockBackend;
  /** I/O trace sampler for the panel's timeline (src/telemetry/io-trace.ts). */
  trace?: DeviceContext['trace'];
  /** Identify NN (default: the personality's, 1 for EBS); above 1 the controller can take hot-plugged namespaces. */
  maxNamespaces?: number;
}

export async function createNvmeFunction(fabric: FunctionFabric, spec: NvmeFunctionSpec): Promise<CardFunction & { nvme: NvmeController }> {
  const log = spec.log.child({ fn: spec.fn, device: 'nvme', volumeId: spec.volumeId });
  const metrics = spec.metrics.scoped('nvme');
  const port = fabric.port(spec.fn);
  const pci = new PciFunction({ sendMsi: (a, d, v) => port.sendMsi(a, d, v), log, metrics });
  const ctx: DeviceContext = { dma: port.dma, irq: pci.irq, clock: realClock, log: limitDeviceLog(log), metrics, ...(spec.trace ? { trace: spec.trace } : {}) };
  const backend = spec.backend ?? (await FileBackend.open(spec.path, { sizeBytes: spec.sizeBytes }));
  const dev = new NvmeController(ctx, {
    personality: spec.personality,
    serial: spec.volumeId.replace('-', ''),
    blockDeviceName: spec.deviceName,
    fn: spec.fn,
    ...(spec.maxNamespaces !== undefined ? { maxNamespaces: spec.maxNamespaces } : {}),
  });
  dev.attachNamespace(1, backend, 512);
  pci.attach(dev);
  fabric.registerFunction(spec.fn, pci);
  log.info({ event: 'function-created', sizeBytes: spec.sizeBytes }, `fn ${spec.fn}: NVMe ${spec.personality} for ${spec.volumeId}`);
  return {
    fn: spec.fn,
    kind: spec.personality === 'ebs' ? 'nvme-ebs' : 'nvme-instance-store',
    volumeId: spec.volumeId,
    pci,
    nvme: dev,
    async close() {
      fabric.unregisterFunction(spec.fn);
      pci.reset();
      await backend.close();
    },
  };
}

export interface VirtioNetFunctionSpec {
  fn: number;
  eniId: string;
  mac: string;
  /** The VPC data plane behind the device: frames the guest sends. */
  backend: NetBackend;
  log: Logger;
  metrics: CardMetrics;
}

/** An ENI's virtio-net function: frames go to the VPC data plane; `net.receive` delivers frames to the guest. */
export function createVirtioNetFunction(fabric: FunctionFabric, spec: VirtioNetFunctionSpec): CardFunction & { net: VirtioNet } {
  const log = spec.log.child({ fn: spec.fn, device: 'virtio-net', eniId: spec.eniId });
  const metrics = spec.metrics.scoped('virtio-net');
  const port = fabric.port(spec.fn);
  const pci = new PciFunction({ sendMsi: (a, d, v) => port.sendMsi(a, d, v), log, metrics });
  const ctx: DeviceContext = { dma: port.dma, irq: pci.irq, clock: realClock, log: limitDeviceLog(log), metrics };
  const net = new VirtioNet({ ctx, backend: spec.backend, mac: spec.mac });
  pci.attach(net);
  fabric.registerFunction(spec.fn, pci);
  log.info({ event: 'function-created', mac: spec.mac }, `fn ${spec.fn}: virtio-net for ${spec.eniId}`);
  return {
    fn: spec.fn,
    kind: 'virtio-net',
    pci,
    net,
    async close() {
      fabric.unregisterFunction(spec.fn);
      pci.reset();
    },
  };
}

/** The edu teaching device (docs/labs/edu-device.md), for instances launched with `devices: ['edu']`. */
export function createEduFunction(fabric: FunctionFabric, spec: { fn: number; log: Logger; metrics: CardMetrics }): CardFunction & { edu: EduDevice } {
  const log = spec.log.child({ fn: spec.fn, device: 'edu' });
  const metrics = spec.metrics.scoped('edu');
  const port = fabric.port(spec.fn);
  const pci = new PciFunction({ sendMsi: (a, d, v) => port.sendMsi(a, d, v), log, metrics });
  const edu = new EduDevice({ dma: port.dma, irq: pci.irq, clock: realClock, log: limitDeviceLog(log), metrics });
  pci.attach(edu);
  fabric.registerFunction(spec.fn, pci);
  log.info({ event: 'function-created' }, `fn ${spec.fn}: edu teaching device`);
  return {
    fn: spec.fn,
    kind: 'edu',
    pci,
    edu,
    async close() {
      fabric.unregisterFunction(spec.fn);
      pci.reset();
    },
  };
}

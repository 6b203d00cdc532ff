// The virtio-pci modern transport (virtio 1.2 §4.1; specs.md §3.2–3.5): vendor capabilities into BAR4, the common
// config block, ISR, device config and notify regions, the device status state machine, feature negotiation, and
// interrupts (MSI-X vector per queue and for config changes, ISR bits alongside).
import type { BarRegion, DeviceContext } from '../contract.ts';
import { viewOf } from '../layout.ts';
import { commonRead, commonWrite, queueRegsAtReset, validQueueSize, type CommonCfgState, type QueueRegs } from './common-cfg.ts';
import type { TransportMetrics } from './metrics.ts';
import { QueueStopped, RingError, Virtqueue, type RingFaultReason } from './queue.ts';
import {
  Bar4, bit, CfgType, CommonCfg, FeatureBit, Isr, RingAlign, Status, VIRTIO_MSI_NO_VECTOR,
  VirtioPciCap, VirtioPciCfgCap, VirtioPciNotifyCap,
} from './regs.ts';

/** What a virtio device type gives the transport (Firecracker's VirtioDevice trait). */
export interface VirtioDevice {
  readonly offeredFeatures: bigint;
  /** Maximum size of each queue, in queue-index order. */
  readonly queueMaxSizes: readonly number[];
  /** Bytes of device-specific config. */
  readonly configSize: number;
  readConfig(offset: number, size: 1 | 2 | 4): number;
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void;
  /** The driver features were refused if this returns a reason (dependencies between device-type features). */
  checkFeatures?(accepted: bigint): string | undefined;
  /** DRIVER_OK: queues that the driver enabled (null for the others), and the negotiated features. */
  activate(queues: readonly (Virtqueue | null)[], features: bigint): void;
  /** The driver kicked queue `index` (only after activation). */
  queueNotify(index: number): void;
  /** The transport was reset (status 0, FLR) or needs a reset: stop all work. */
  deactivate(): void;
}

export interface TransportOptions {
  ctx: DeviceContext;
  device: VirtioDevice;
  metrics: TransportMetrics;
  /** MSI-X table size; vectors ≥ this read back as NO_VECTOR. */
  msixVectors: number;
}

const VENDOR_CAP_ID = 0x09;

export class VirtioPciTransport implements CommonCfgState {
  readonly offeredFeatures: bigint;
  readonly queues: QueueRegs[];
  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  driverFeatures = 0n;
  configMsixVector = VIRTIO_MSI_NO_VECTOR;
  queueSelect = 0;
  configGeneration = 0;
  /** BAR4 as the PCI function decodes it. */
  readonly region: BarRegion;
  private statusReg = 0;
  private isr = 0;
  private busMaster = true;
  private live: (Virtqueue | null)[] = [];
  private readonly ctx: DeviceContext;
  private readonly device: VirtioDevice;
  private readonly m: TransportMetrics;
  private readonly msixVectors: number;

  constructor(opts: TransportOptions) {
    this.ctx = opts.ctx;
    this.device = opts.device;
    this.m = opts.metrics;
    this.msixVectors = opts.msixVectors;
    this.offeredFeatures = opts.device.offeredFeatures | bit(FeatureBit.VERSION_1);
    this.queues = opts.device.queueMaxSizes.map(queueRegsAtReset);
    this.region = { read: (o, s) => this.barRead(o, s), write: (o, s, v) => this.barWrite(o, s, v) };
  }

  get status(): number { return this.statusReg; }
  get driverOk(): boolean { return (this.statusReg & Status.DRIVER_OK) !== 0; }
  get needsReset(): boolean { return (this.statusReg & Status.DEVICE_NEEDS_RESET) !== 0; }
  /** Features both sides agreed on (meaningful once FEATURES_OK reads back). */
  get negotiatedFeatures(): bigint { return this.driverFeatures & this.offeredFeatures; }
  /** The device may touch guest memory: live, healthy, and Bus Master enabled. */
  get canDma(): boolean { return this.driverOk && !this.needsReset && this.busMaster; }

  /** The vendor capabilities, in order of preference, for PciDeviceModel.extraCapabilities (next pointers 0). */
  capabilities(): Uint8Array[] {
    const mult = Bar4.NOTIFY_OFF_MULTIPLIER;
    return [
      vendorCap(VirtioPciCap.size, CfgType.COMMON, Bar4.INDEX, Bar4.COMMON_OFFSET, CommonCfg.size),
      vendorCap(VirtioPciNotifyCap.size, CfgType.NOTIFY, Bar4.INDEX, Bar4.NOTIFY_OFFSET, this.queues.length * mult, mult),
      vendorCap(VirtioPciCap.size, CfgType.ISR, Bar4.INDEX, Bar4.ISR_OFFSET, 1),
      vendorCap(VirtioPciCap.size, CfgType.DEVICE, Bar4.INDEX, Bar4.DEVICE_OFFSET, this.device.configSize),
      vendorCap(VirtioPciCfgCap.size, CfgType.PCI_CFG, 0, 0, 0, 0),
    ];
  }

  writeStatus(value: number): void {
    const v = value & 0xff;
    if (v === 0) return this.reset();
    const old = this.statusReg;
    // The driver only adds bits; DEVICE_NEEDS_RESET belongs to the device.
    let next = old | (v & ~Status.DEVICE_NEEDS_RESET);
    if (next & ~old & Status.FEATURES_OK) {
      const why = this.refuseFeatures();
      if (why !== undefined) {
        next &= ~Status.FEATURES_OK;
        this.ctx.log.warn({ event: 'virtio-features-rejected', reason: why, accepted: `0x${this.driverFeatures.toString(16)}` });
        this.m.driverError('features-rejected');
      }
    }
    if (next & ~old & Status.DRIVER_OK && !(next & Status.FEATURES_OK)) {
      next &= ~Status.DRIVER_OK;
      this.driverError('driver-ok-before-features-ok', { status: v });
    }
    this.statusReg = next;
    if (next & ~old & Status.DRIVER_OK) this.activate();
  }

  /** Writing 0 to device_status, or an FLR: everything back to reset values, queues stopped. */
  reset(): void {
    this.stopQueues();
    this.device.deactivate();
    this.statusReg = 0;
    this.isr = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.configMsixVector = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    this.queues.forEach((q, i) => { this.queues[i] = queueRegsAtReset(q.maxSize); });
    this.ctx.log.debug({ event: 'virtio-reset' });
  }

  acceptVector(vector: number): number {
    return vector === VIRTIO_MSI_NO_VECTOR || vector < this.msixVectors ? vector : VIRTIO_MSI_NO_VECTOR;
  }

  driverError(reason: string, detail: Record<string, number>): void {
    this.ctx.log.warn({ event: `virtio-${reason}`, ...detail });
    this.m.driverError(reason);
  }

  setBusMaster(enabled: boolean): void { this.busMaster = enabled; }

  /** Used-buffer notification for queue q: ISR bit 0, then its MSI-X vector if mapped. */
  signalQueue(q: number): void {
    this.isr |= Isr.QUEUE;
    const vector = this.queues[q]?.msixVector ?? VIRTIO_MSI_NO_VECTOR;
    this.raise(vector);
  }

  /** The device config changed (e.g. link status): bump config_generation and notify a live driver. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    if (this.driverOk) this.signalConfig();
  }

  /**
   * A guest broke a ring rule (or its memory faulted): set DEVICE_NEEDS_RESET, stop every queue, and send a
   * config-change interrupt if the driver was live. Anything that is not a RingError or DmaFault is reported too,
   * so no guest input can escape as an exception.
   */
  fail(err: unknown, queue: number): void {
    if (err instanceof QueueStopped) return;
    let reason: RingFaultReason;
    let detail: Record<string, unknown>;
    if (err instanceof RingError) { reason = err.reason; detail = { ...err.detail }; } else if (err instanceof Error && err.name === 'DmaFault') {
      reason = 'dma-fault';
      detail = { queue, message: err.message };
    } else {
      this.ctx.log.error({ event: 'virtio-internal-error', queue, err: String(err) });
      reason = 'internal-error';
      detail = { queue };
    }
    this.ctx.log.warn({ event: `virtio-ring-${reason}`, ...detail });
    this.m.malformed(reason);
    if (this.needsReset) return;
    this.stopQueues();
    this.device.deactivate();
    this.statusReg |= Status.DEVICE_NEEDS_RESET;
    this.m.needsReset();
    this.ctx.log.warn({ event: 'virtio-needs-reset', reason, queue });
    if (this.driverOk) this.signalConfig();
  }

  /** The PCI_CFG window's `pci_cfg_data` access, for a function model that routes it here (virtio 1.2 §4.1.4.9). */
  pciCfgAccess(bar: number, offset: number, length: number, write: number | undefined): number {
    if (bar !== Bar4.INDEX || (length !== 1 && length !== 2 && length !== 4) || offset % length !== 0) return 0;
    if (write === undefined) return this.barRead(offset, length);
    this.barWrite(offset, length, write);
    return 0;
  }

  private refuseFeatures(): string | undefined {
    const accepted = this.driverFeatures;
    const unoffered = accepted & ~this.offeredFeatures;
    if (unoffered !== 0n) return `unoffered features 0x${unoffered.toString(16)}`;
    if ((accepted & bit(FeatureBit.VERSION_1)) === 0n) return 'VERSION_1 not accepted';
    return this.device.checkFeatures?.(accepted);
  }

  private activate(): void {
    const f = this.negotiatedFeatures;
    const eventIdx = (f & bit(FeatureBit.RING_EVENT_IDX)) !== 0n;
    const indirect = (f & bit(FeatureBit.RING_INDIRECT_DESC)) !== 0n;
    const queues: (Virtqueue | null)[] = [];
    for (const [i, q] of this.queues.entries()) {
      if (!q.enable) { queues.push(null); continue; }
      const desc = join(q.desc), avail = join(q.driver), used = join(q.device);
      const ok = validQueueSize(q.size, q.maxSize) && desc >= 0 && avail >= 0 && used >= 0
        && desc % RingAlign.desc === 0 && avail % RingAlign.avail === 0 && used % RingAlign.used === 0;
      if (!ok) {
        this.fail(new RingError('queue-config-invalid', { queue: i, size: q.size, desc, avail, used }), i);
        return;
      }
      queues.push(new Virtqueue(i, { size: q.size, desc, avail, used, eventIdx, indirect }, this.ctx.dma, () => this.busMaster));
    }
    this.live = queues;
    this.ctx.log.info({ event: 'virtio-driver-ok', features: `0x${f.toString(16)}`, queues: queues.filter((q) => q).length });
    this.device.activate(queues, f);
  }

  private stopQueues(): void {
    for (const q of this.live) q?.stop();
    this.live = [];
  }

  private signalConfig(): void {
    this.isr |= Isr.CONFIG;
    this.raise(this.configMsixVector);
  }

  private raise(vector: number): void {
    if (vector === VIRTIO_MSI_NO_VECTOR) return;
    this.m.interrupt();
    if (this.ctx.trace?.sampling()) this.ctx.trace.emit({ tNs: this.ctx.clock.nowNs(), fn: 0, kind: 'msix', detail: `virtio vector ${vector}` });
    this.ctx.irq.raise(vector);
  }

  private barRead(offset: number, size: 1 | 2 | 4): number {
    const region = Math.floor(offset / Bar4.PAGE) * Bar4.PAGE;
    const rel = offset - region;
    switch (region) {
      case Bar4.COMMON_OFFSET: return commonRead(this, rel, size);
      case Bar4.ISR_OFFSET: {
        if (rel !== 0) return 0;
        const v = this.isr;
        this.isr = 0; // read-to-clear (deasserts INTx)
        return v;
      }
      case Bar4.DEVICE_OFFSET:
        return rel + size <= this.device.configSize ? this.device.readConfig(rel, size) : 0;
      default: return 0;
    }
  }

  private barWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    const region = Math.floor(offset / Bar4.PAGE) * Bar4.PAGE;
    const rel = offset - region;
    switch (region) {
      case Bar4.COMMON_OFFSET: return commonWrite(this, rel, size, value);
      case Bar4.DEVICE_OFFSET:
        if (rel + size <= this.device.configSize) this.device.writeConfig(rel, size, value);
        return;
      case Bar4.NOTIFY_OFFSET: return this.notify(rel, size, value);
      default:
    }
  }

  /** A kick: the driver writes the 16-bit queue index at that queue's notify address. */
  private notify(rel: number, size: number, value: number): void {
    const q = value & 0xffff;
    if (size < 2 || rel >= this.queues.length * Bar4.NOTIFY_OFF_MULTIPLIER || q >= this.queues.length) {
      return this.driverError('notify-bad', { offset: rel, size, value });
    }
    this.m.notify();
    if (this.ctx.trace?.sampling()) this.ctx.trace.emit({ tNs: this.ctx.clock.nowNs(), fn: 0, kind: 'doorbell', detail: `virtio notify q${q}` });
    if (!this.driverOk || this.needsReset) return this.driverError('notify-not-live', { queue: q, status: this.statusReg });
    if (!this.busMaster || !this.live[q]) return;
    this.device.queueNotify(q);
  }
}

/** lo/hi halves → address, or -1 when it does not fit in 2^53. */
function join([lo, hi]: readonly [number, number]): number {
  return hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + lo;
}

function vendorCap(len: number, cfgType: number, bar: number, offset: number, length: number, extra?: number): Uint8Array {
  const b = new Uint8Array(len);
  const v = viewOf(b);
  const o = VirtioPciCap.offset;
  v.setUint8(o.cap_vndr, VENDOR_CAP_ID);
  v.setUint8(o.cap_next, 0);
  v.setUint8(o.cap_len, len);
  v.setUint8(o.cfg_type, cfgType);
  v.setUint8(o.bar, bar);
  v.setUint32(o.offset, offset, true);
  v.setUint32(o.length, length, true);
  // notify_off_multiplier (NOTIFY) or pci_cfg_data (PCI_CFG): both at +16.
  if (extra !== undefined) v.setUint32(VirtioPciNotifyCap.offset.notify_off_multiplier, extra, true);
  return b;
}

// The PCI function model: wraps a PciDeviceModel with config space, BAR decoding, MSI-X and FLR; the link drives it
// (specs.md §1.1–1.5).
import type { BarDecl, DeviceLog, DeviceMetrics, IrqPort, PciDeviceModel, PushedEntries, PushRefusal } from '../contract.ts';
import {
  Command, ConfigSpace, CONFIG_SPACE_SIZE, defineType0Header, touches, Type0Header,
} from './config-space.ts';
import { defineCapabilities, Express, ExpressCap, MsixCap, MsixControl, Pm, PmCap, type CapabilityLayout } from './capabilities.ts';
import { Msix, msixPages, MSIX_MAX_VECTORS, type MsixVectorState } from './msix.ts';

export interface PciFunctionOptions {
  /** Deliver an MSI-X message (a posted 32-bit write of `data` to `address`); vector is informative. */
  sendMsi(address: number, data: number, vector: number): void;
  log: DeviceLog;
  metrics: DeviceMetrics;
  /** Interrupt Pin register: 0 = none (default), 1 = INTA#. INTx itself is not emulated. */
  interruptPin?: 0 | 1;
  /** If given, a Device Serial Number extended capability at 0x100 carries it. */
  serialNumber?: bigint;
}

/** A BAR as the function decodes it: the device's region, and the MSI-X pages that shadow part of it. */
interface BarSlot {
  readonly decl: BarDecl;
  /** [tableStart, pbaStart) is the table page(s), [pbaStart, msixEnd) the PBA page(s); -1 when MSI-X is elsewhere. */
  readonly tableStart: number;
  readonly pbaStart: number;
  readonly msixEnd: number;
}

const PAGE = 4096;
const H = Type0Header.offset;

/** What an invalid request (Unsupported Request) reads as: all ones of the access width. */
export function allOnes(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
}

function isAccessSize(size: number): size is 1 | 2 | 4 {
  return size === 1 || size === 2 || size === 4;
}

export class PciFunction {
  /** IrqPort to put in the device's DeviceContext (usable before attach). */
  readonly irq: IrqPort;
  private readonly opts: PciFunctionOptions;
  private readonly cs = new ConfigSpace();
  private readonly bars: (BarSlot | undefined)[] = [];
  private device: PciDeviceModel | undefined;
  private caps: CapabilityLayout | undefined;
  private msix: Msix | undefined;
  private command = 0;

  constructor(opts: PciFunctionOptions) {
    this.opts = opts;
    this.irq = {
      raise: (vector: number) => {
        if (this.msix) return this.msix.raise(vector);
        this.opts.log.warn({ event: 'msix-raise-without-msix', vector });
        this.opts.metrics.inc('msix_dropped_total');
      },
    };
  }

  /** Build config space, BARs and capabilities from the model. A malformed model declaration throws. */
  attach(model: PciDeviceModel): void {
    if (this.device) throw new Error('PciFunction.attach: a model is already attached');
    validateModel(model);
    const msixLayout = model.msixVectors > 0 ? msixPages(model.msixVectors) : null;
    const pbaOffset = msixLayout ? model.msixTableOffset + msixLayout.tablePages * PAGE : 0;
    for (const decl of model.bars) {
      const hasMsix = msixLayout !== null && decl.index === model.msixBar;
      this.bars[decl.index] = {
        decl,
        tableStart: hasMsix ? model.msixTableOffset : -1,
        pbaStart: hasMsix ? pbaOffset : -1,
        msixEnd: hasMsix && msixLayout ? pbaOffset + msixLayout.pbaPages * PAGE : -1,
      };
    }
    this.caps = defineCapabilities(this.cs, {
      msix: msixLayout ? { vectors: model.msixVectors, bir: model.msixBar, tableOffset: model.msixTableOffset, pbaOffset } : null,
      extra: model.extraCapabilities ?? [],
      serialNumber: this.opts.serialNumber ?? null,
    });
    defineType0Header(this.cs, model.identity, model.bars, {
      interruptPin: this.opts.interruptPin ?? 0,
      capabilitiesPtr: this.caps.first,
    });
    this.cs.seal();
    if (msixLayout) {
      this.msix = new Msix({ vectors: model.msixVectors, send: this.opts.sendMsi, log: this.opts.log, metrics: this.opts.metrics });
    }
    this.device = model;
  }

  get model(): PciDeviceModel | undefined { return this.device; }
  get capabilities(): CapabilityLayout | undefined { return this.caps; }
  get busMaster(): boolean { return (this.command & Command.BUS_MASTER) !== 0; }
  get memoryEnabled(): boolean { return (this.command & Command.MEMORY_SPACE) !== 0; }
  get msixEnabled(): boolean { return this.msix?.isEnabled ?? false; }

  /** One MSI-X vector's table entry and pending bit (for tests and the panel). */
  msixVector(n: number): MsixVectorState | undefined {
    return this.msix && n >= 0 && n < this.msix.vectors ? this.msix.vector(n) : undefined;
  }

  /** A copy of config space (256 or 4096 bytes), e.g. for an lspci dump. */
  configSnapshot(length: 256 | 4096 = CONFIG_SPACE_SIZE): Uint8Array {
    return this.cs.snapshot(length);
  }

  configRead(offset: number, size: number): number {
    if (!this.checkConfig(offset, size)) return allOnes(size);
    return this.cs.read(offset, size);
  }

  configWrite(offset: number, size: number, value: number): void {
    if (!this.checkConfig(offset, size)) return;
    const caps = this.caps;
    if (!caps) return;
    const pmcsr = caps.pm + PmCap.offset.pmcsr;
    const oldPowerState = this.cs.read(pmcsr, 2) & Pm.PMCSR_STATE_MASK;
    this.cs.write(offset, size, value);

    const devCtl = caps.express + ExpressCap.offset.devCtl;
    if (touches(offset, size, devCtl, 2) && (this.cs.read(devCtl, 2) & Express.DEVCTL_INITIATE_FLR) !== 0) {
      this.opts.log.info({ event: 'pci-flr' });
      this.opts.metrics.inc('pci_flr_total');
      this.reset();
      return;
    }
    if (touches(offset, size, pmcsr, 2)) this.checkPowerState(pmcsr, oldPowerState);
    if (touches(offset, size, H.command, 2)) this.applyCommand();
    if (caps.msix !== null && touches(offset, size, caps.msix + MsixCap.offset.messageControl, 2)) {
      const control = this.cs.read(caps.msix + MsixCap.offset.messageControl, 2);
      this.msix?.setControl((control & MsixControl.ENABLE) !== 0, (control & MsixControl.FUNCTION_MASK) !== 0);
    }
  }

  barRead(bar: number, offset: number, size: number): number {
    const slot = this.checkBar(bar, offset, size, 'read');
    if (!slot || !isAccessSize(size)) return allOnes(size);
    if (this.msix && offset >= slot.tableStart && offset < slot.msixEnd) {
      return offset < slot.pbaStart ? this.msix.tableRead(offset - slot.tableStart, size) : this.msix.pbaRead(offset - slot.pbaStart, size);
    }
    const v = slot.decl.region.read(offset, size);
    return size === 4 ? v >>> 0 : v & allOnes(size);
  }

  barWrite(bar: number, offset: number, size: number, value: number): void {
    const slot = this.checkBar(bar, offset, size, 'write');
    if (!slot || !isAccessSize(size)) return;
    if (this.msix && offset >= slot.tableStart && offset < slot.msixEnd) {
      if (offset < slot.pbaStart) this.msix.tableWrite(offset - slot.tableStart, size, value);
      else this.msix.pbaWrite(offset - slot.pbaStart, size);
      return;
    }
    slot.decl.region.write(offset, size, size === 4 ? value >>> 0 : value & allOnes(size));
  }

  /** A doorbell write carrying pushed entries (DOORBELL_PUSH): to the BAR region's `push`, if it takes pushes. */
  barPush(bar: number, p: PushedEntries): PushRefusal | null {
    const slot = this.checkBar(bar, p.offset, 4, 'write');
    if (!slot) return { kind: 'not-enabled', reason: `BAR${bar} offset 0x${p.offset.toString(16)} is not decoded` };
    const push = slot.decl.region.push;
    if (push === undefined || (this.msix && p.offset >= slot.tableStart && p.offset < slot.msixEnd)) {
      return { kind: 'not-enabled', reason: `BAR${bar} offset 0x${p.offset.toString(16)} takes no pushed entries` };
    }
    return push.call(slot.decl.region, p);
  }

  /** Function-level reset: config space and MSI-X back to reset values, then the model's own reset. */
  reset(): void {
    if (!this.device) return;
    this.cs.restore();
    this.command = 0;
    this.msix?.reset();
    this.device.reset();
  }

  private checkConfig(offset: number, size: number): size is 1 | 2 | 4 {
    if (!this.device) {
      this.opts.metrics.inc('pci_config_no_function_total');
      return false;
    }
    if (!isAccessSize(size) || !Number.isInteger(offset) || offset < 0 || offset + size > CONFIG_SPACE_SIZE || offset % size !== 0) {
      this.opts.log.warn({ event: 'pci-config-bad-access', offset, size });
      this.opts.metrics.inc('pci_config_bad_access_total');
      return false;
    }
    return true;
  }

  private checkBar(bar: number, offset: number, size: number, op: 'read' | 'write'): BarSlot | undefined {
    const slot = Number.isInteger(bar) ? this.bars[bar] : undefined;
    if (!slot || !isAccessSize(size) || !Number.isInteger(offset) || offset < 0 || offset + size > slot.decl.size || offset % size !== 0) {
      this.opts.log.warn({ event: 'pci-bar-bad-access', bar, offset, size, op });
      this.opts.metrics.inc('pci_bar_bad_access_total');
      return undefined;
    }
    if (!this.memoryEnabled) {
      // Command.Memory Space = 0: the function does not decode its BARs (an Unsupported Request).
      this.opts.log.warn({ event: 'pci-bar-access-memory-disabled', bar, offset, op });
      this.opts.metrics.inc('pci_bar_access_memory_disabled_total');
      return undefined;
    }
    return slot;
  }

  private applyCommand(): void {
    const was = this.busMaster;
    this.command = this.cs.read(H.command, 2);
    const now = this.busMaster;
    if (was === now) return;
    this.msix?.setBusMaster(now);
    this.device?.busMasterChanged?.(now);
  }

  /** D1 and D2 are not supported: a write asking for them leaves PowerState unchanged. */
  private checkPowerState(pmcsr: number, old: number): void {
    const state = this.cs.read(pmcsr, 2) & Pm.PMCSR_STATE_MASK;
    if (state === Pm.STATE_D0 || state === Pm.STATE_D3HOT) return;
    this.opts.log.warn({ event: 'pci-pm-unsupported-state', state });
    this.opts.metrics.inc('pci_pm_unsupported_state_total');
    this.cs.write(pmcsr, 1, (this.cs.read(pmcsr, 1) & ~Pm.PMCSR_STATE_MASK) | old);
  }
}

/** Check a model's declarations against the PCI rules; a violation is a bug in the model and throws. */
export function validateModel(model: PciDeviceModel): void {
  const used = new Set<number>();
  for (const b of model.bars) {
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) throw new RangeError(`BAR index ${b.index} out of range 0..5`);
    if (b.is64 && b.index === 5) throw new RangeError('a 64-bit BAR cannot start at BAR5');
    const pow2 = Number.isSafeInteger(b.size) && b.size >= 16 && Number.isInteger(Math.log2(b.size));
    if (!pow2) throw new RangeError(`BAR${b.index} size ${b.size} is not a power of two ≥ 16`);
    if (!b.is64 && b.size > 0x8000_0000) throw new RangeError(`32-bit BAR${b.index} of ${b.size} bytes does not fit below 4 GiB`);
    for (const i of b.is64 ? [b.index, b.index + 1] : [b.index]) {
      if (used.has(i)) throw new RangeError(`BAR register ${i} declared twice`);
      used.add(i);
    }
  }
  const n = model.msixVectors;
  if (!Number.isInteger(n) || n < 0 || n > MSIX_MAX_VECTORS) throw new RangeError(`msixVectors ${n} out of range 0..${MSIX_MAX_VECTORS}`);
  if (n === 0) return;
  const bar = model.bars.find((b) => b.index === model.msixBar);
  if (!bar) throw new RangeError(`msixBar ${model.msixBar} is not a declared BAR`);
  if (model.msixTableOffset < 0 || model.msixTableOffset % PAGE !== 0) {
    throw new RangeError(`msixTableOffset 0x${model.msixTableOffset.toString(16)} is not 4 KiB aligned`);
  }
  const pages = msixPages(n);
  const end = model.msixTableOffset + (pages.tablePages + pages.pbaPages) * PAGE;
  if (end > bar.size) throw new RangeError(`MSI-X table and PBA end at 0x${end.toString(16)}, beyond BAR${bar.index} (0x${bar.size.toString(16)})`);
}

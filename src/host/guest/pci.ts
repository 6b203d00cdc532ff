// PCI enumeration on bus 0 (specs.md §1): probe each slot through config space, size BARs with the all-ones protocol
// and assign addresses, enable Memory Space + Bus Master, walk the capability list, and set up MSI-X tables.
import {
  CapHeader, MSIX_BIR_MASK, MSIX_CTRL, MSIX_ENTRY_MASKED, MsixCap, MsixEntry, PCI_BAR, PCI_CAP_ID, PCI_COMMAND,
  PCI_STATUS, PciHeader, barOffsetInConfig,
} from './pci-regs.ts';
import { MSI_ADDRESS, type GuestPlatform } from './platform.ts';
import type { KernelLog } from './klog.ts';

export interface PciBar {
  readonly index: number;
  readonly kind: 'mem32' | 'mem64' | 'io';
  readonly prefetchable: boolean;
  readonly size: number;
  /** Assigned bus address (0 if the window ran out). */
  readonly address: number;
}

export interface PciCapability {
  readonly id: number;
  readonly offset: number;
}

export interface MsixInfo {
  readonly capOffset: number;
  readonly tableSize: number;
  readonly tableBar: number;
  readonly tableOffset: number;
  readonly pbaBar: number;
  readonly pbaOffset: number;
}

export interface PciDevice {
  readonly slot: number;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly subsystemVendorId: number;
  readonly subsystemId: number;
  readonly revisionId: number;
  /** 24-bit class code: base << 16 | sub << 8 | prog-if. */
  readonly classCode: number;
  readonly headerType: number;
  readonly interruptPin: number;
  readonly bars: readonly PciBar[];
  readonly capabilities: readonly PciCapability[];
  readonly msix: MsixInfo | undefined;
  /** Name of the bound driver, if any. */
  driver: string | undefined;
  /** Guest vectors programmed into MSI-X entries 0..n-1 (empty when MSI-X is off). */
  msixVectors: readonly number[];
}

/** `00:03.0` */
export const bdf = (slot: number): string => `00:${slot.toString(16).padStart(2, '0')}.0`;

/** Bump allocator for bus addresses, aligned to each BAR's size. */
class AddressWindow {
  private next: number;
  constructor(private readonly start: number, private readonly end: number) { this.next = start; }
  take(size: number): number {
    const addr = Math.ceil(this.next / size) * size;
    if (addr + size > this.end) return 0;
    this.next = addr + size;
    return addr;
  }
  get base(): number { return this.start; }
}

const MAX_CAPS = 48; // (256 − 64) / 4: more than this means a loop in the list

export class PciBus {
  readonly devices: PciDevice[] = [];
  private readonly platform: GuestPlatform;
  private readonly log: KernelLog;
  private readonly mem32: AddressWindow;
  private readonly mem64: AddressWindow;
  private readonly io: AddressWindow;

  constructor(platform: GuestPlatform, log: KernelLog) {
    this.platform = platform;
    this.log = log;
    this.mem32 = new AddressWindow(0xc000_0000, 0xfec0_0000);
    const high = Math.max(0x1_0000_0000, Math.ceil(platform.mem.length / 0x1_0000_0000) * 0x1_0000_0000);
    this.mem64 = new AddressWindow(high, high + 0x40_0000_0000);
    this.io = new AddressWindow(0xc000, 0x1_0000);
    if (platform.mem.length > this.mem32.base) this.log.warn('pci: guest RAM overlaps the 32-bit MMIO window');
  }

  /** Probe every slot; returns the devices found (also kept in `devices`). */
  async scan(): Promise<PciDevice[]> {
    for (let slot = 0; slot < this.platform.slots; slot++) {
      try {
        const dev = await this.probe(slot);
        if (dev) this.devices.push(dev);
      } catch (err) {
        this.log.err(`pci ${bdf(slot)}: probe failed: ${String(err)}`);
      }
    }
    return this.devices;
  }

  private cfg(slot: number, off: number, size: 1 | 2 | 4): Promise<number> {
    return this.platform.cfgRead(slot, off, size);
  }

  private async probe(slot: number): Promise<PciDevice | undefined> {
    const H = PciHeader.offset;
    const vendorId = await this.cfg(slot, H.vendorId, 2);
    if (vendorId === 0xffff || vendorId === 0) return undefined;
    const deviceId = await this.cfg(slot, H.deviceId, 2);
    const classRev = await this.cfg(slot, H.revisionId, 4);
    const headerType = await this.cfg(slot, H.headerType, 1);
    const dev: PciDevice = {
      slot,
      vendorId,
      deviceId,
      revisionId: classRev & 0xff,
      classCode: classRev >>> 8,
      headerType,
      subsystemVendorId: await this.cfg(slot, H.subsystemVendorId, 2),
      subsystemId: await this.cfg(slot, H.subsystemId, 2),
      interruptPin: await this.cfg(slot, H.interruptPin, 1),
      bars: (headerType & 0x7f) === 0 ? await this.sizeAndAssignBars(slot) : [],
      capabilities: [],
      msix: undefined,
      driver: undefined,
      msixVectors: [],
    };
    const caps = await this.walkCapabilities(slot);
    const msix = await this.readMsix(slot, caps);
    const full: PciDevice = { ...dev, capabilities: caps, msix };
    const cmd = await this.cfg(slot, H.command, 2);
    await this.platform.cfgWrite(slot, H.command, 2, (cmd | PCI_COMMAND.MEMORY | PCI_COMMAND.MASTER | (full.bars.some((b) => b.kind === 'io') ? PCI_COMMAND.IO : 0)) & 0xffff);
    this.log.info(`pci ${bdf(slot)}: [${hex(vendorId, 4)}:${hex(deviceId, 4)}] type ${hex(headerType & 0x7f, 2)} class 0x${hex(full.classCode, 6)}`);
    for (const b of full.bars) {
      this.log.info(`pci ${bdf(slot)}: BAR ${b.index} [${b.kind === 'io' ? 'io' : 'mem'} 0x${hex(b.address, 8)}-0x${hex(b.address + b.size - 1, 8)}${b.kind === 'mem64' ? ' 64bit' : ''}${b.prefetchable ? ' pref' : ''}]`);
    }
    return full;
  }

  /** The all-ones sizing protocol (specs.md §1.3), with Memory/IO decoding off while BARs hold all ones. */
  private async sizeAndAssignBars(slot: number): Promise<PciBar[]> {
    const H = PciHeader.offset;
    const cmd = await this.cfg(slot, H.command, 2);
    await this.platform.cfgWrite(slot, H.command, 2, cmd & ~(PCI_COMMAND.MEMORY | PCI_COMMAND.IO) & 0xffff);
    const bars: PciBar[] = [];
    for (let i = 0; i < 6; i++) {
      const off = barOffsetInConfig(i);
      const saved = await this.cfg(slot, off, 4);
      await this.platform.cfgWrite(slot, off, 4, 0xffff_ffff);
      const probe = await this.cfg(slot, off, 4);
      await this.platform.cfgWrite(slot, off, 4, saved);
      if (probe === 0 || probe === 0xffff_ffff) continue; // unimplemented BAR (or a broken device)
      if (probe & PCI_BAR.IO) {
        const size = (~(probe & PCI_BAR.IO_MASK) + 1) & 0xffff;
        if (!isPow2(size)) continue;
        const address = this.io.take(size);
        await this.platform.cfgWrite(slot, off, 4, address);
        bars.push({ index: i, kind: 'io', prefetchable: false, size, address });
        continue;
      }
      const is64 = (probe & PCI_BAR.TYPE_MASK) === PCI_BAR.TYPE_64 && i < 5;
      const prefetchable = (probe & PCI_BAR.PREFETCH) !== 0;
      let size: number;
      if (is64) {
        const offHi = barOffsetInConfig(i + 1);
        const savedHi = await this.cfg(slot, offHi, 4);
        await this.platform.cfgWrite(slot, offHi, 4, 0xffff_ffff);
        const probeHi = await this.cfg(slot, offHi, 4);
        await this.platform.cfgWrite(slot, offHi, 4, savedHi);
        const mask = BigInt(probeHi >>> 0) << 32n | BigInt((probe & PCI_BAR.MEM_MASK) >>> 0);
        size = Number(((~mask) & 0xffff_ffff_ffff_ffffn) + 1n);
      } else {
        size = ((~(probe & PCI_BAR.MEM_MASK)) >>> 0) + 1;
      }
      if (size < 16 || !isPow2(size)) {
        this.log.warn(`pci ${bdf(slot)}: BAR ${i} reports an invalid size, ignored`);
        if (is64) i++;
        continue;
      }
      const window = is64 && prefetchable ? this.mem64 : this.mem32;
      const address = window.take(size);
      if (address === 0) this.log.warn(`pci ${bdf(slot)}: no address space for BAR ${i} (size ${size})`);
      await this.platform.cfgWrite(slot, off, 4, address % 0x1_0000_0000);
      if (is64) await this.platform.cfgWrite(slot, barOffsetInConfig(i + 1), 4, Math.floor(address / 0x1_0000_0000));
      bars.push({ index: i, kind: is64 ? 'mem64' : 'mem32', prefetchable, size, address });
      if (is64) i++;
    }
    return bars;
  }

  private async walkCapabilities(slot: number): Promise<PciCapability[]> {
    const status = await this.cfg(slot, PciHeader.offset.status, 2);
    if ((status & PCI_STATUS.CAP_LIST) === 0) return [];
    const caps: PciCapability[] = [];
    const seen = new Set<number>();
    let ptr = (await this.cfg(slot, PciHeader.offset.capabilitiesPtr, 1)) & 0xfc;
    while (ptr >= 0x40 && caps.length < MAX_CAPS) {
      if (seen.has(ptr)) {
        this.log.warn(`pci ${bdf(slot)}: capability list loops at 0x${hex(ptr, 2)}`);
        break;
      }
      seen.add(ptr);
      const id = await this.cfg(slot, ptr + CapHeader.offset.capId, 1);
      caps.push({ id, offset: ptr });
      ptr = (await this.cfg(slot, ptr + CapHeader.offset.next, 1)) & 0xfc;
    }
    return caps;
  }

  private async readMsix(slot: number, caps: readonly PciCapability[]): Promise<MsixInfo | undefined> {
    const cap = caps.find((c) => c.id === PCI_CAP_ID.MSIX);
    if (!cap) return undefined;
    const O = MsixCap.offset;
    const ctrl = await this.cfg(slot, cap.offset + O.messageControl, 2);
    const table = await this.cfg(slot, cap.offset + O.tableOffsetBir, 4);
    const pba = await this.cfg(slot, cap.offset + O.pbaOffsetBir, 4);
    return {
      capOffset: cap.offset,
      tableSize: (ctrl & MSIX_CTRL.TABLE_SIZE_MASK) + 1,
      tableBar: table & MSIX_BIR_MASK,
      tableOffset: (table & ~MSIX_BIR_MASK) >>> 0,
      pbaBar: pba & MSIX_BIR_MASK,
      pbaOffset: (pba & ~MSIX_BIR_MASK) >>> 0,
    };
  }

  /**
   * Enable MSI-X with entry i → vectors[i] (address 0xFEE00000, data = vector), as Linux's msix_capability_init
   * does: enable with the function masked, program and unmask the entries, then clear the function mask.
   */
  async enableMsix(dev: PciDevice, vectors: readonly number[]): Promise<void> {
    const m = dev.msix;
    if (!m) throw new Error(`pci ${bdf(dev.slot)}: no MSI-X capability`);
    if (vectors.length > m.tableSize) throw new Error(`pci ${bdf(dev.slot)}: ${vectors.length} vectors > MSI-X table size ${m.tableSize}`);
    const ctrlOff = m.capOffset + MsixCap.offset.messageControl;
    const cmd = await this.cfg(dev.slot, PciHeader.offset.command, 2);
    await this.platform.cfgWrite(dev.slot, PciHeader.offset.command, 2, (cmd | PCI_COMMAND.INTX_DISABLE) & 0xffff);
    const ctrl = await this.cfg(dev.slot, ctrlOff, 2);
    await this.platform.cfgWrite(dev.slot, ctrlOff, 2, (ctrl | MSIX_CTRL.ENABLE | MSIX_CTRL.FUNCTION_MASK) & 0xffff);
    const E = MsixEntry.offset;
    for (let i = 0; i < m.tableSize; i++) {
      const base = m.tableOffset + i * MsixEntry.size;
      const v = vectors[i];
      if (v === undefined) {
        this.platform.mmioWrite(dev.slot, m.tableBar, base + E.vectorControl, 4, MSIX_ENTRY_MASKED);
        continue;
      }
      this.platform.mmioWrite(dev.slot, m.tableBar, base + E.addressLo, 4, MSI_ADDRESS);
      this.platform.mmioWrite(dev.slot, m.tableBar, base + E.addressHi, 4, 0);
      this.platform.mmioWrite(dev.slot, m.tableBar, base + E.data, 4, v);
      this.platform.mmioWrite(dev.slot, m.tableBar, base + E.vectorControl, 4, 0);
    }
    // A read flushes the posted table writes before the function mask is lifted.
    await this.platform.mmioRead(dev.slot, m.tableBar, m.tableOffset + E.vectorControl, 4);
    await this.platform.cfgWrite(dev.slot, ctrlOff, 2, (ctrl | MSIX_CTRL.ENABLE) & ~MSIX_CTRL.FUNCTION_MASK & 0xffff);
    dev.msixVectors = [...vectors];
  }

  /** True while the function answers config reads (pci_device_is_present): a removed one reads all ones. */
  async isPresent(dev: PciDevice): Promise<boolean> {
    return (await this.cfg(dev.slot, PciHeader.offset.vendorId, 2)) === dev.vendorId;
  }

  /**
   * Program a function that came back after a surprise removal (or a reset that lost its config) as it was:
   * BAR addresses, Memory/Bus Master decoding, and MSI-X with the same entries — Linux's pci_restore_state.
   */
  async restoreState(dev: PciDevice): Promise<void> {
    const H = PciHeader.offset;
    for (const b of dev.bars) {
      const off = barOffsetInConfig(b.index);
      await this.platform.cfgWrite(dev.slot, off, 4, b.address % 0x1_0000_0000);
      if (b.kind === 'mem64') await this.platform.cfgWrite(dev.slot, barOffsetInConfig(b.index + 1), 4, Math.floor(b.address / 0x1_0000_0000));
    }
    const cmd = await this.cfg(dev.slot, H.command, 2);
    const io = dev.bars.some((b) => b.kind === 'io') ? PCI_COMMAND.IO : 0;
    await this.platform.cfgWrite(dev.slot, H.command, 2, (cmd | PCI_COMMAND.MEMORY | PCI_COMMAND.MASTER | io) & 0xffff);
    if (dev.msixVectors.length > 0) await this.enableMsix(dev, dev.msixVectors);
    this.log.info(`pci ${bdf(dev.slot)}: config space restored`);
  }

  /** Mask every entry and turn MSI-X off. */
  async disableMsix(dev: PciDevice): Promise<void> {
    const m = dev.msix;
    if (!m) return;
    for (let i = 0; i < dev.msixVectors.length; i++) {
      this.platform.mmioWrite(dev.slot, m.tableBar, m.tableOffset + i * MsixEntry.size + MsixEntry.offset.vectorControl, 4, MSIX_ENTRY_MASKED);
    }
    const ctrlOff = m.capOffset + MsixCap.offset.messageControl;
    const ctrl = await this.cfg(dev.slot, ctrlOff, 2);
    await this.platform.cfgWrite(dev.slot, ctrlOff, 2, ctrl & ~MSIX_CTRL.ENABLE & 0xffff);
    dev.msixVectors = [];
  }

  /** Read current MSI-X Message Control (for lspci -v). */
  async msixControl(dev: PciDevice): Promise<number> {
    if (!dev.msix) return 0;
    return this.cfg(dev.slot, dev.msix.capOffset + MsixCap.offset.messageControl, 2);
  }

  /** Raw config read, for diagnostics commands. */
  readConfig(dev: PciDevice, off: number, size: 1 | 2 | 4): Promise<number> {
    return this.cfg(dev.slot, off, size);
  }
}

const isPow2 = (v: number): boolean => Number.isSafeInteger(v) && v > 0 && Number.isInteger(Math.log2(v));

function hex(v: number, width: number): string {
  return v.toString(16).padStart(width, '0');
}

// A stand-in PCI device used only by the PCI function model's tests: a few BAR0 registers, a 32-bit prefetchable
// BAR2, four MSI-X vectors in BAR0 and one vendor capability. It is not an emulated product.
import type { BarRegion, DeviceContext, PciDeviceModel } from '../../../src/devices/contract.ts';

/** Stand-in BAR0 registers (32-bit each). */
export const StandInReg = {
  /** RO magic. */
  ID: 0x00,
  /** RW scratch. */
  SCRATCH: 0x04,
  /** WO: writing n raises MSI-X vector n. */
  RAISE: 0x08,
  /** RO: how many times reset() ran. */
  RESETS: 0x0c,
} as const;
export const STAND_IN_ID = 0x57a1_d000;

export interface StandInOptions {
  msixVectors?: number;
  extraCapabilities?: readonly Uint8Array[];
}

export interface StandInDevice extends PciDeviceModel {
  resets: number;
  busMasterLog: boolean[];
  scratch: number;
}

/** Vendor-specific capability (ID 0x09), 8 bytes: id, next, length, then five payload bytes. */
export const STAND_IN_VENDOR_CAP = Uint8Array.of(0x09, 0x00, 0x08, 0x5a, 0x11, 0x22, 0x33, 0x44);

export function makeStandInDevice(ctx: DeviceContext, opts: StandInOptions = {}): StandInDevice {
  const bar0: BarRegion = {
    read(offset, size) {
      const reg = offset & ~3;
      const shift = 8 * (offset & 3);
      let v = 0;
      if (reg === StandInReg.ID) v = STAND_IN_ID;
      else if (reg === StandInReg.SCRATCH) v = dev.scratch;
      else if (reg === StandInReg.RESETS) v = dev.resets;
      return size === 4 ? v >>> 0 : (v >>> shift) & (size === 1 ? 0xff : 0xffff);
    },
    write(offset, size, value) {
      if (offset === StandInReg.SCRATCH && size === 4) dev.scratch = value >>> 0;
      else if (offset === StandInReg.RAISE && size === 4) ctx.irq.raise(value);
    },
  };
  const bar2: BarRegion = { read: () => 0, write: () => {} };
  const dev: StandInDevice = {
    identity: { vendorId: 0x1b36, deviceId: 0x00ff, subsystemVendorId: 0x1b36, subsystemId: 0x0001, revisionId: 0x02, classCode: 0xff0000 },
    bars: [
      { index: 0, size: 0x4000, is64: true, prefetchable: false, region: bar0 },
      { index: 2, size: 0x10_0000, is64: false, prefetchable: true, region: bar2 },
    ],
    msixVectors: opts.msixVectors ?? 4,
    msixBar: 0,
    msixTableOffset: 0x2000,
    extraCapabilities: opts.extraCapabilities ?? [STAND_IN_VENDOR_CAP],
    resets: 0,
    busMasterLog: [],
    scratch: 0,
    reset() {
      dev.resets++;
      dev.scratch = 0;
    },
    busMasterChanged(enabled) {
      dev.busMasterLog.push(enabled);
    },
  };
  return dev;
}

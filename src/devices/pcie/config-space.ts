// PCIe configuration space storage with per-byte write masks; type-0 header layout and BAR encoding (specs.md §1.1–1.3).
import { defineStruct } from '../layout.ts';
import type { BarDecl, PciIdentity } from '../contract.ts';

/** PCIe config space is 4 KiB: 0x00–0x3F header, 0x40–0xFF capability list, 0x100–0xFFF extended capabilities. */
export const CONFIG_SPACE_SIZE = 4096;
/** Conventional (PCI) config space size; the standard capability list must end below it. */
export const LEGACY_CONFIG_SIZE = 256;

/** Type-0 configuration header, 64 bytes (specs.md §1.1). */
export const Type0Header = defineStruct('Type0Header', [
  ['vendorId', 'u16'],
  ['deviceId', 'u16'],
  ['command', 'u16'],
  ['status', 'u16'],
  ['revisionId', 'u8'],
  ['progIf', 'u8'],
  ['subClass', 'u8'],
  ['baseClass', 'u8'],
  ['cacheLineSize', 'u8'],
  ['latencyTimer', 'u8'],
  ['headerType', 'u8'],
  ['bist', 'u8'],
  ['bar0', 'u32'],
  ['bar1', 'u32'],
  ['bar2', 'u32'],
  ['bar3', 'u32'],
  ['bar4', 'u32'],
  ['bar5', 'u32'],
  ['cardbusCis', 'u32'],
  ['subsystemVendorId', 'u16'],
  ['subsystemId', 'u16'],
  ['expansionRom', 'u32'],
  ['capabilitiesPtr', 'u8'],
  ['rsvd35', { bytes: 7 }],
  ['interruptLine', 'u8'],
  ['interruptPin', 'u8'],
  ['minGnt', 'u8'],
  ['maxLat', 'u8'],
] as const, 64);

const H = Type0Header.offset;

/** Config offset of BAR n (0..5). */
export function barRegOffset(n: number): number {
  return H.bar0 + 4 * n;
}

/** Command register bits (specs.md §1.2). */
export const Command = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  PARITY_ERROR_RESPONSE: 1 << 6,
  SERR_ENABLE: 1 << 8,
  INTX_DISABLE: 1 << 10,
} as const;
/** The Command bits software may change; the rest are hard-wired 0. */
export const COMMAND_RW_MASK = Command.IO_SPACE | Command.MEMORY_SPACE | Command.BUS_MASTER |
  Command.PARITY_ERROR_RESPONSE | Command.SERR_ENABLE | Command.INTX_DISABLE;

/** Status register bits (specs.md §1.2). */
export const Status = {
  /** bit 3, RO: INTx pending. */
  INTERRUPT_STATUS: 1 << 3,
  /** bit 4, RO: 0x34 holds a valid capability pointer (always 1 for PCIe). */
  CAP_LIST: 1 << 4,
  /** bits 8 and 11–15, RW1C: parity/abort/SERR error bits. */
  ERROR_BITS_RW1C: 0xf900,
} as const;

/** BAR register low bits (specs.md §1.3, memory BARs). */
export const BarBits = {
  /** bits 2:1 = 10: 64-bit memory BAR. */
  TYPE_64: 0b100,
  /** bit 3: prefetchable. */
  PREFETCHABLE: 0b1000,
  /** bits 3:0 of a memory BAR are type bits, never address bits. */
  MEMORY_TYPE_MASK: 0xf,
} as const;

/** Initial value and writable mask of a BAR's register(s): address bits below log2(size) are hard-wired 0. */
export interface BarEncoding {
  readonly low: { readonly init: number; readonly writeMask: number };
  /** Upper half, for 64-bit BARs only (register n+1). */
  readonly high?: { readonly init: number; readonly writeMask: number };
}

export function encodeBar(decl: BarDecl): BarEncoding {
  const init = (decl.is64 ? BarBits.TYPE_64 : 0) | (decl.prefetchable ? BarBits.PREFETCHABLE : 0);
  const lowAddrMask = decl.size >= 0x1_0000_0000 ? 0 : (~(decl.size - 1) & ~BarBits.MEMORY_TYPE_MASK) >>> 0;
  const low = { init, writeMask: lowAddrMask };
  if (!decl.is64) return { low };
  const highSize = Math.floor(decl.size / 0x1_0000_0000);
  const highMask = highSize === 0 ? 0xffff_ffff : (~(highSize - 1)) >>> 0;
  return { low, high: { init: 0, writeMask: highMask } };
}

/** Check the PCI identity fits its register widths (a broken model declaration throws). */
export function checkIdentity(id: PciIdentity): void {
  const fits = (name: string, v: number, max: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`PCI identity ${name} ${v} out of range 0..${max}`);
  };
  fits('vendorId', id.vendorId, 0xfffe);
  fits('deviceId', id.deviceId, 0xffff);
  fits('subsystemVendorId', id.subsystemVendorId, 0xffff);
  fits('subsystemId', id.subsystemId, 0xffff);
  fits('revisionId', id.revisionId, 0xff);
  fits('classCode', id.classCode, 0xff_ffff);
}

export interface FieldInit {
  /** Reset value. */
  value: number;
  /** Bits software may write (default none: read-only). */
  rw?: number;
  /** Bits that are write-one-to-clear (default none). */
  rw1c?: number;
}

/**
 * 4 KiB of config space: the current bytes, a per-byte writable mask and a per-byte RW1C mask, and the reset image.
 * Writes apply `new = (old & ~rw) | (value & rw)`, then clear the RW1C bits written as 1. Everything not defined
 * reads 0 and ignores writes. Accesses here are already validated (in range, size 1/2/4, naturally aligned).
 */
export class ConfigSpace {
  readonly bytes = new Uint8Array(CONFIG_SPACE_SIZE);
  readonly view = new DataView(this.bytes.buffer);
  private readonly rwMask = new Uint8Array(CONFIG_SPACE_SIZE);
  private readonly rw1cMask = new Uint8Array(CONFIG_SPACE_SIZE);
  private readonly resetImage = new Uint8Array(CONFIG_SPACE_SIZE);

  /** Define a field of `size` bytes at `offset`: reset value and masks, little-endian. */
  define(offset: number, size: 1 | 2 | 4, init: FieldInit): void {
    if (offset < 0 || offset + size > CONFIG_SPACE_SIZE) throw new RangeError(`config field 0x${offset.toString(16)} out of range`);
    for (let i = 0; i < size; i++) {
      const shift = 8 * i;
      this.bytes[offset + i] = (init.value >>> shift) & 0xff;
      this.rwMask[offset + i] = ((init.rw ?? 0) >>> shift) & 0xff;
      this.rw1cMask[offset + i] = ((init.rw1c ?? 0) >>> shift) & 0xff;
    }
  }

  /** Copy raw read-only bytes (e.g. a capability body) into config space. */
  defineBytes(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > CONFIG_SPACE_SIZE) throw new RangeError(`config bytes at 0x${offset.toString(16)} out of range`);
    this.bytes.set(data, offset);
    this.rwMask.fill(0, offset, offset + data.length);
    this.rw1cMask.fill(0, offset, offset + data.length);
  }

  /** Record the current contents as the power-on / FLR image. */
  seal(): void {
    this.resetImage.set(this.bytes);
  }

  /** Return every byte to its reset value. */
  restore(): void {
    this.bytes.set(this.resetImage);
  }

  read(offset: number, size: 1 | 2 | 4): number {
    switch (size) {
      case 1: return this.view.getUint8(offset);
      case 2: return this.view.getUint16(offset, true);
      case 4: return this.view.getUint32(offset, true);
    }
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const v = (value >>> (8 * i)) & 0xff;
      const rw = this.rwMask[at] ?? 0;
      const old = this.bytes[at] ?? 0;
      this.bytes[at] = ((old & ~rw) | (v & rw)) & ~(v & (this.rw1cMask[at] ?? 0));
    }
  }

  /** Writable mask of one byte (tests and the contract suite use it). */
  writableBits(offset: number): number {
    return this.rwMask[offset] ?? 0;
  }

  /** A copy of the current bytes. */
  snapshot(length: number = CONFIG_SPACE_SIZE): Uint8Array {
    return this.bytes.slice(0, length);
  }
}

/** Does the access [offset, offset+size) touch the register [reg, reg+regSize)? */
export function touches(offset: number, size: number, reg: number, regSize: number): boolean {
  return offset < reg + regSize && reg < offset + size;
}

/** Options of the header that do not come from the device model. */
export interface HeaderOptions {
  /** Interrupt Pin: 0 = none, 1 = INTA#. */
  interruptPin: 0 | 1;
  /** Offset of the first standard capability (0 = none). */
  capabilitiesPtr: number;
}

/** Lay out the type-0 header: identity RO, Command/Status masks, BARs from the model, no ROM, no BIST. */
export function defineType0Header(cs: ConfigSpace, id: PciIdentity, bars: readonly BarDecl[], opts: HeaderOptions): void {
  checkIdentity(id);
  cs.define(H.vendorId, 2, { value: id.vendorId });
  cs.define(H.deviceId, 2, { value: id.deviceId });
  cs.define(H.command, 2, { value: 0, rw: COMMAND_RW_MASK });
  cs.define(H.status, 2, { value: opts.capabilitiesPtr === 0 ? 0 : Status.CAP_LIST, rw1c: Status.ERROR_BITS_RW1C });
  cs.define(H.revisionId, 1, { value: id.revisionId });
  cs.define(H.progIf, 1, { value: id.classCode & 0xff });
  cs.define(H.subClass, 1, { value: (id.classCode >>> 8) & 0xff });
  cs.define(H.baseClass, 1, { value: (id.classCode >>> 16) & 0xff });
  cs.define(H.cacheLineSize, 1, { value: 0, rw: 0xff });
  // Latency Timer, Header Type (type 0, single function), BIST, CardBus CIS, Expansion ROM, Min_Gnt, Max_Lat: all 0, RO.
  for (const decl of bars) {
    const enc = encodeBar(decl);
    cs.define(barRegOffset(decl.index), 4, { value: enc.low.init, rw: enc.low.writeMask });
    if (enc.high) cs.define(barRegOffset(decl.index + 1), 4, { value: enc.high.init, rw: enc.high.writeMask });
  }
  cs.define(H.subsystemVendorId, 2, { value: id.subsystemVendorId });
  cs.define(H.subsystemId, 2, { value: id.subsystemId });
  cs.define(H.capabilitiesPtr, 1, { value: opts.capabilitiesPtr & 0xfc });
  cs.define(H.interruptLine, 1, { value: 0, rw: 0xff });
  cs.define(H.interruptPin, 1, { value: opts.interruptPin });
}

// Standard and extended capability lists: Power Management, PCI Express v2 endpoint, MSI-X, the model's extra
// capabilities, and an optional Device Serial Number (specs.md §1.4, §1.5).
import { defineStruct } from '../layout.ts';
import { ConfigSpace, LEGACY_CONFIG_SIZE } from './config-space.ts';

export const CapId = {
  POWER_MANAGEMENT: 0x01,
  MSI: 0x05,
  VENDOR: 0x09,
  PCI_EXPRESS: 0x10,
  MSIX: 0x11,
} as const;

export const ExtCapId = {
  AER: 0x0001,
  DSN: 0x0003,
  SRIOV: 0x0010,
} as const;

/** The standard list starts here (the first byte after the type-0 header). */
export const FIRST_CAP_OFFSET = 0x40;
/** The extended list starts here. */
export const FIRST_EXT_CAP_OFFSET = 0x100;

/** Power Management capability, 8 bytes (Linux PCI_PM_SIZEOF). */
export const PmCap = defineStruct('PmCap', [
  ['capId', 'u8'],
  ['next', 'u8'],
  ['pmc', 'u16'],
  ['pmcsr', 'u16'],
  ['bridgeExt', 'u8'],
  ['data', 'u8'],
] as const, 8);

/** PMC (+2): bits 2:0 version (3 = PM 1.2). PMCSR (+4): bits 1:0 PowerState, bit 3 No_Soft_Reset. */
export const Pm = {
  PMC_VERSION_1_2: 3,
  PMCSR_STATE_MASK: 0x3,
  PMCSR_NO_SOFT_RESET: 1 << 3,
  STATE_D0: 0,
  STATE_D3HOT: 3,
} as const;

/** PCI Express capability, v2 layout through Link Status 2 (0x34 bytes; Linux sizes a v2 endpoint with link 0x32). */
export const ExpressCap = defineStruct('ExpressCap', [
  ['capId', 'u8'],
  ['next', 'u8'],
  ['pcieCap', 'u16'],
  ['devCap', 'u32'],
  ['devCtl', 'u16'],
  ['devSta', 'u16'],
  ['lnkCap', 'u32'],
  ['lnkCtl', 'u16'],
  ['lnkSta', 'u16'],
  ['sltCap', 'u32'],
  ['sltCtl', 'u16'],
  ['sltSta', 'u16'],
  ['rootCtl', 'u16'],
  ['rootCap', 'u16'],
  ['rootSta', 'u32'],
  ['devCap2', 'u32'],
  ['devCtl2', 'u16'],
  ['devSta2', 'u16'],
  ['lnkCap2', 'u32'],
  ['lnkCtl2', 'u16'],
  ['lnkSta2', 'u16'],
] as const, 0x34);

export const Express = {
  /** Capabilities register: bits 3:0 version 2, bits 7:4 device/port type 0 (endpoint). */
  PCIE_CAP_V2_ENDPOINT: 0x0002,
  /** DevCap bits 2:0 = 001: 256-byte Max Payload Size supported. */
  DEVCAP_MPS_256: 0x1,
  /** DevCap bit 15: Role-Based Error Reporting (required of v2 functions). */
  DEVCAP_RBER: 1 << 15,
  /** DevCap bit 28: Function Level Reset capable. */
  DEVCAP_FLR: 1 << 28,
  /** DevCtl bit 15: Initiate Function Level Reset (always reads 0). */
  DEVCTL_INITIATE_FLR: 1 << 15,
  /** DevCtl bits software may change: 3:0 error reporting, 4 relaxed ordering, 7:5 MPS, 11 no snoop, 14:12 MRRS, 15 FLR. */
  DEVCTL_RW_MASK: 0xf8ff,
  /** DevCtl reset value: relaxed ordering and no snoop enabled, MRRS 512 bytes, MPS 128 bytes. */
  DEVCTL_RESET: 0x2810,
  /** DevSta bits 3:0: error detected bits, RW1C. */
  DEVSTA_RW1C_MASK: 0x000f,
  /** LnkCap / LnkSta: 8 GT/s (speed code 3), x4 (width in bits 9:4). */
  LINK_8GT_X4: 0x3 | (4 << 4),
  /** LnkCtl bits software may change: 1:0 ASPM control, 3 RCB, 6 common clock, 7 extended synch. */
  LNKCTL_RW_MASK: 0x00cb,
  /** LnkCap2 bits 3:1: 2.5, 5 and 8 GT/s supported. */
  LNKCAP2_SPEEDS_TO_8GT: 0b1110,
  /** LnkCtl2 bits 3:0: target link speed (RW), reset to 8 GT/s. */
  LNKCTL2_TARGET_SPEED_MASK: 0xf,
} as const;

/** MSI-X capability, 12 bytes (specs.md §1.5). */
export const MsixCap = defineStruct('MsixCap', [
  ['capId', 'u8'],
  ['next', 'u8'],
  ['messageControl', 'u16'],
  ['tableOffsetBir', 'u32'],
  ['pbaOffsetBir', 'u32'],
] as const, 12);

export const MsixControl = {
  /** bits 10:0, RO: table size N−1. */
  TABLE_SIZE_MASK: 0x07ff,
  /** bit 14, RW: Function Mask. */
  FUNCTION_MASK: 1 << 14,
  /** bit 15, RW: MSI-X Enable. */
  ENABLE: 1 << 15,
  /** Table/PBA register bits 2:0: BIR. */
  BIR_MASK: 0x7,
} as const;

/** Device Serial Number extended capability, 12 bytes (Linux PCI_EXT_CAP_DSN_SIZEOF). */
export const DsnExtCap = defineStruct('DsnExtCap', [
  ['header', 'u32'],
  ['serialLo', 'u32'],
  ['serialHi', 'u32'],
] as const, 12);

/** Extended capability header: bits 15:0 ID, 19:16 version, 31:20 next offset. */
export function extCapHeader(id: number, version: number, next: number): number {
  return ((next & 0xfff) << 20 | (version & 0xf) << 16 | (id & 0xffff)) >>> 0;
}

export interface MsixPlacement {
  vectors: number;
  bir: number;
  tableOffset: number;
  pbaOffset: number;
}

export interface CapabilityPlan {
  msix: MsixPlacement | null;
  extra: readonly Uint8Array[];
  serialNumber: bigint | null;
}

/** Where each capability landed in config space. */
export interface CapabilityLayout {
  readonly pm: number;
  readonly express: number;
  readonly msix: number | null;
  readonly extra: readonly number[];
  readonly dsn: number | null;
  /** Offset of the first capability (what 0x34 holds). */
  readonly first: number;
}

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Chain PM → PCI Express → MSI-X → the model's extra capabilities from 0x40, each DWORD-aligned, and the DSN at
 * 0x100 if a serial number is given. A plan that does not fit below 0x100 is a broken model and throws.
 */
export function defineCapabilities(cs: ConfigSpace, plan: CapabilityPlan): CapabilityLayout {
  const sizes = [PmCap.size, ExpressCap.size, ...(plan.msix ? [MsixCap.size] : []), ...plan.extra.map((c) => c.length)];
  const offsets: number[] = [];
  let at = FIRST_CAP_OFFSET;
  for (const size of sizes) {
    offsets.push(at);
    at = align4(at + size);
  }
  if (at > LEGACY_CONFIG_SIZE) throw new RangeError(`capabilities need ${at - FIRST_CAP_OFFSET} bytes; only 0xC0 fit`);
  const next = (i: number): number => offsets[i + 1] ?? 0;

  let i = 0;
  const pm = offsets[i] ?? FIRST_CAP_OFFSET;
  definePm(cs, pm, next(i++));
  const express = offsets[i] ?? 0;
  defineExpress(cs, express, next(i++));
  let msix: number | null = null;
  if (plan.msix) {
    msix = offsets[i] ?? 0;
    defineMsix(cs, msix, next(i++), plan.msix);
  }
  const extra: number[] = [];
  for (const cap of plan.extra) {
    if (cap.length < 2) throw new RangeError(`extra capability of ${cap.length} bytes has no header`);
    const off = offsets[i] ?? 0;
    cs.defineBytes(off, cap);
    cs.define(off + 1, 1, { value: next(i++) });
    extra.push(off);
  }

  let dsn: number | null = null;
  if (plan.serialNumber !== null) {
    dsn = FIRST_EXT_CAP_OFFSET;
    const d = DsnExtCap.offset;
    cs.define(dsn + d.header, 4, { value: extCapHeader(ExtCapId.DSN, 1, 0) });
    cs.define(dsn + d.serialLo, 4, { value: Number(plan.serialNumber & 0xffff_ffffn) });
    cs.define(dsn + d.serialHi, 4, { value: Number((plan.serialNumber >> 32n) & 0xffff_ffffn) });
  }
  return { pm, express, msix, extra, dsn, first: FIRST_CAP_OFFSET };
}

function definePm(cs: ConfigSpace, at: number, next: number): void {
  const o = PmCap.offset;
  cs.define(at + o.capId, 1, { value: CapId.POWER_MANAGEMENT });
  cs.define(at + o.next, 1, { value: next });
  cs.define(at + o.pmc, 2, { value: Pm.PMC_VERSION_1_2 });
  cs.define(at + o.pmcsr, 2, { value: Pm.PMCSR_NO_SOFT_RESET, rw: Pm.PMCSR_STATE_MASK });
}

function defineExpress(cs: ConfigSpace, at: number, next: number): void {
  const o = ExpressCap.offset;
  cs.define(at + o.capId, 1, { value: CapId.PCI_EXPRESS });
  cs.define(at + o.next, 1, { value: next });
  cs.define(at + o.pcieCap, 2, { value: Express.PCIE_CAP_V2_ENDPOINT });
  cs.define(at + o.devCap, 4, { value: (Express.DEVCAP_MPS_256 | Express.DEVCAP_RBER | Express.DEVCAP_FLR) >>> 0 });
  cs.define(at + o.devCtl, 2, { value: Express.DEVCTL_RESET, rw: Express.DEVCTL_RW_MASK });
  cs.define(at + o.devSta, 2, { value: 0, rw1c: Express.DEVSTA_RW1C_MASK });
  cs.define(at + o.lnkCap, 4, { value: Express.LINK_8GT_X4 });
  cs.define(at + o.lnkCtl, 2, { value: 0, rw: Express.LNKCTL_RW_MASK });
  cs.define(at + o.lnkSta, 2, { value: Express.LINK_8GT_X4 });
  cs.define(at + o.lnkCap2, 4, { value: Express.LNKCAP2_SPEEDS_TO_8GT });
  cs.define(at + o.lnkCtl2, 2, { value: 3, rw: Express.LNKCTL2_TARGET_SPEED_MASK });
}

function defineMsix(cs: ConfigSpace, at: number, next: number, p: MsixPlacement): void {
  const o = MsixCap.offset;
  cs.define(at + o.capId, 1, { value: CapId.MSIX });
  cs.define(at + o.next, 1, { value: next });
  cs.define(at + o.messageControl, 2, {
    value: (p.vectors - 1) & MsixControl.TABLE_SIZE_MASK,
    rw: MsixControl.FUNCTION_MASK | MsixControl.ENABLE,
  });
  cs.define(at + o.tableOffsetBir, 4, { value: (p.tableOffset | p.bir) >>> 0 });
  cs.define(at + o.pbaOffsetBir, 4, { value: (p.pbaOffset | p.bir) >>> 0 });
}

/** One entry found by walking a capability list. */
export interface FoundCap { id: number; offset: number }

/**
 * Walk the standard list from the Capabilities Pointer, as a driver does. Stops at next = 0, at a pointer outside
 * 0x40–0xFF, or after 48 entries (a loop), so a corrupt list cannot hang the caller.
 */
export function walkCapabilities(readByte: (offset: number) => number): FoundCap[] {
  const found: FoundCap[] = [];
  let at = readByte(0x34) & 0xfc;
  while (at >= FIRST_CAP_OFFSET && at < LEGACY_CONFIG_SIZE && found.length < 48) {
    found.push({ id: readByte(at), offset: at });
    at = readByte(at + 1) & 0xfc;
  }
  return found;
}

/** Walk the extended list from 0x100 (a header of 0 means none). */
export function walkExtendedCapabilities(readDword: (offset: number) => number): FoundCap[] {
  const found: FoundCap[] = [];
  let at = FIRST_EXT_CAP_OFFSET;
  while (at >= FIRST_EXT_CAP_OFFSET && found.length < 960) {
    const header = readDword(at);
    if (header === 0) break;
    found.push({ id: header & 0xffff, offset: at });
    at = (header >>> 20) & 0xffc;
  }
  return found;
}

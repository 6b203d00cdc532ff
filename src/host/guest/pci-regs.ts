// Guest-side PCI layouts (specs.md §1.1 type-0 header, §1.2 command/status bits, §1.4 capabilities, §1.5 MSI-X),
// declared once with defineStruct; pci.ts reads config space at the offsets derived here.
import { defineStruct } from '../../devices/layout.ts';

/** Type-0 configuration header, the first 64 bytes of config space (specs.md §1.1). */
export const PciHeader = defineStruct('PciHeader', [
  ['vendorId', 'u16'],
  ['deviceId', 'u16'],
  ['command', 'u16'],
  ['status', 'u16'],
  ['revisionId', 'u8'],
  ['progIf', 'u8'],
  ['subclass', 'u8'],
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
  ['romBar', 'u32'],
  ['capPtr', 'u8'],
  ['rsvd0', { bytes: 7 }],
  ['interruptLine', 'u8'],
  ['interruptPin', 'u8'],
  ['minGnt', 'u8'],
  ['maxLat', 'u8'],
] as const, 64);

/** Config offset of BAR n. */
export const barOffsetInConfig = (n: number): number => PciHeader.offset.bar0 + 4 * n;

/** Command register bits (specs.md §1.2). */
export const PCI_COMMAND = {
  IO: 1 << 0,
  MEMORY: 1 << 1,
  MASTER: 1 << 2,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits. */
export const PCI_STATUS = { INTERRUPT: 1 << 3, CAP_LIST: 1 << 4 } as const;

/** BAR low bits (specs.md §1.3). */
export const PCI_BAR = {
  IO: 0x1,
  TYPE_MASK: 0x6,
  TYPE_64: 0x4,
  PREFETCH: 0x8,
  MEM_MASK: 0xfffffff0,
  IO_MASK: 0xfffffffc,
} as const;

/** Standard capability IDs (specs.md §1.4). */
export const PCI_CAP_ID = {
  PM: 0x01,
  MSI: 0x05,
  VNDR: 0x09,
  EXP: 0x10,
  MSIX: 0x11,
} as const;

/** Every standard capability starts with these two bytes. */
export const CapHeader = defineStruct('CapHeader', [
  ['capId', 'u8'],
  ['next', 'u8'],
] as const, 2);

/** MSI-X capability, 12 bytes (specs.md §1.5). */
export const MsixCap = defineStruct('MsixCap', [
  ['capId', 'u8'],
  ['next', 'u8'],
  /** 10:0 Table Size (N−1), 14 Function Mask, 15 MSI-X Enable. */
  ['messageControl', 'u16'],
  /** 2:0 BIR, 31:3 offset. */
  ['table', 'u32'],
  ['pba', 'u32'],
] as const, 12);

export const MSIX_CTRL = {
  TABLE_SIZE_MASK: 0x7ff,
  FUNCTION_MASK: 1 << 14,
  ENABLE: 1 << 15,
} as const;
export const MSIX_BIR_MASK = 0x7;

/** MSI-X table entry, 16 bytes. */
export const MsixEntry = defineStruct('MsixEntry', [
  ['addrLo', 'u32'],
  ['addrHi', 'u32'],
  ['data', 'u32'],
  /** bit 0 Mask; resets to 1. */
  ['vectorControl', 'u32'],
] as const, 16);
export const MSIX_ENTRY_MASKED = 1;

/** MSI capability fields used for display (specs.md §1.5, "MSI for completeness"). */
export const MSI_CTRL = { ENABLE: 1 << 0, MMC_SHIFT: 1, MMC_MASK: 0x7, ADDR64: 1 << 7, PVM: 1 << 8 } as const;
/** PCI Express capability: +2 capabilities register, bits 7:4 device/port type. */
export const PCI_EXP_FLAGS_OFFSET = 2;

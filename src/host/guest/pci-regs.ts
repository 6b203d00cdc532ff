// Guest-side PCI layouts (specs.md §1.1 type-0 header, §1.2 command/status bits, §1.4 capabilities, §1.5 MSI-X),
// with pci.ts reading config space at the derived offsets.
import { defineStruct } from '../../devices/layout.ts';
import { Type0Header } from '../../devices/pcie/config-space.ts';
// The type-0 header, the MSI-X capability and its table entry are the spec's structures, declared once beside the
// device model; the guest reads them from there under its own short names.
export { Type0Header as PciHeader } from '../../devices/pcie/config-space.ts';
export { MsixCap } from '../../devices/pcie/capabilities.ts';
export { MsixTableEntry as MsixEntry } from '../../devices/pcie/msix.ts';

/** Config offset of BAR n. */
export const barOffsetInConfig = (n: number): number => Type0Header.offset.bar0 + 4 * n;

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

export const MSIX_CTRL = {
  TABLE_SIZE_MASK: 0x7ff,
  FUNCTION_MASK: 1 << 14,
  ENABLE: 1 << 15,
} as const;
export const MSIX_BIR_MASK = 0x7;

export const MSIX_ENTRY_MASKED = 1;

/** MSI capability fields used for display (specs.md §1.5, "MSI for completeness"). */
export const MSI_CTRL = { ENABLE: 1 << 0, MMC_SHIFT: 1, MMC_MASK: 0x7, ADDR64: 1 << 7, PVM: 1 << 8 } as const;
/** PCI Express capability: +2 capabilities register, bits 7:4 device/port type. */
export const PCI_EXP_FLAGS_OFFSET = 2;

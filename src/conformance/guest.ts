// The suite's guest RAM (docs/conformance.md §3.3): a SharedArrayBuffer the function is bound to, of which only the
// low WINDOW_BYTES are mapped in the IOMMU (IOVA = GPA), so tests can point the card at memory it must not touch.
export const GUEST_BYTES = 4 << 20;
export const WINDOW_BYTES = 2 << 20;
/** A guest-physical address inside guest RAM but outside every IOMMU window. */
export const OUTSIDE_WINDOW = 3 << 20;
export const PAGE = 4096;

/** Fixed places in the window. */
export const Gm = {
  ASQ: 0x1000,
  ACQ: 0x2000,
  IO_SQ: 0x3000,
  IO_CQ: 0x4000,
  /** Identify / log page buffers (one page each). */
  BUF: 0x10000,
  /** Data buffers for I/O (256 KiB). */
  DATA: 0x40000,
  /** Read-back buffers (256 KiB). */
  DATA2: 0x80000,
  /** PRP list pages. */
  PRP_LIST: 0xc0000,
  /** DSM range list. */
  DSM: 0xd0000,
} as const;

/** MSI-X messages the suite programs: address in the x86 interrupt window, data = MSI_DATA_BASE + vector. */
export const MSI_ADDRESS = 0xfee0_0000;
export const MSI_DATA_BASE = 0x4e00;

export function guestRam(): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(GUEST_BYTES));
}

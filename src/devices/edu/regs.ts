// nitrolab edu: the teaching device's BAR0 register block and constants (docs/labs/edu-device.md is the spec; the
// idea comes from QEMU's edu device, the layout and semantics are nitrolab's own).
import { defineStruct } from '../layout.ts';

/** PCI identity: Amazon's vendor id as every nitrolab function uses, a device id no real Nitro function uses. */
export const EduIdentity = {
  VENDOR_ID: 0x1d0f,
  DEVICE_ID: 0xed00,
  SUBSYSTEM_VENDOR_ID: 0x1d0f,
  SUBSYSTEM_ID: 0xed00,
  REVISION_ID: 0x01,
  /** Base class FFh (device does not fit a defined class), sub 00, prog-if 00: no OS driver binds it by class. */
  CLASS_CODE: 0xff0000,
} as const;

/** BAR0 register block, 32-bit registers (offsets follow from the order; `rsvd*` read 0, ignore writes). */
export const EduRegs = defineStruct('EduRegs', [
  ['ID', 'u32'], //          0x00 RO  0xRRrr00ED: RR major, rr minor
  ['LIVENESS', 'u32'], //    0x04 RW  reads the bitwise NOT of the last value written
  ['FACTORIAL', 'u32'], //   0x08 RW  write n: becomes n! mod 2^32
  ['rsvd0C', { bytes: 4 }],
  ['STATUS', 'u32'], //      0x10 RO  bit 0 BUSY, bit 1 ERROR
  ['ERROR', 'u32'], //       0x14 RO  EduError of the last command (0 = none)
  ['rsvd18', { bytes: 8 }],
  ['INT_STATUS', 'u32'], //  0x20 RO  EduInt bits raised and not yet acknowledged
  ['INT_RAISE', 'u32'], //   0x24 WO  set these EduInt bits (a software interrupt); reads 0
  ['INT_ACK', 'u32'], //     0x28 WO  clear these EduInt bits; reads 0
  ['INT_ENABLE', 'u32'], //  0x2C RW  EduInt bits that send MSI-X vector 0 when they are raised
  ['rsvd30', { bytes: 16 }],
  ['DMA_SRC_LO', 'u32'], //  0x40 RW  source IOVA, low half
  ['DMA_SRC_HI', 'u32'], //  0x44 RW  source IOVA, high half
  ['DMA_DST_LO', 'u32'], //  0x48 RW  destination IOVA (COPY), low half
  ['DMA_DST_HI', 'u32'], //  0x4C RW  destination IOVA (COPY), high half
  ['DMA_LEN', 'u32'], //     0x50 RW  bytes, 1..EDU_DMA_MAX
  ['DMA_CMD', 'u32'], //     0x54 WO  writing an EduCmd starts it; reads 0
  ['DMA_RESULT', 'u32'], //  0x58 RO  CRC-32 of the bytes the last command read
] as const, 0x5c);

export type EduRegName = Exclude<keyof typeof EduRegs.offset, `rsvd${string}`>;

/** ID register value: version 1.0. */
export const EDU_ID = 0x0100_00ed;
export const EDU_BAR0_SIZE = 0x1000;
/** BAR1 holds the MSI-X table (offset 0) and PBA (offset 0x1000): two 4 KiB pages. */
export const EDU_MSIX_BAR = 1;
export const EDU_MSIX_BAR_SIZE = 0x2000;
export const EDU_MSIX_VECTORS = 1;
/** Largest DMA_LEN. */
export const EDU_DMA_MAX = 0x1_0000;

export const EduStatus = {
  /** A DMA command is running; registers other than the interrupt block should not be reprogrammed. */
  BUSY: 1 << 0,
  /** The last command failed: ERROR says why. Cleared when the next command starts. */
  ERROR: 1 << 1,
} as const;

export const EduInt = {
  /** A FACTORIAL write completed. */
  FACT: 1 << 0,
  /** A DMA command completed without error. */
  DMA: 1 << 1,
  /** A command failed. */
  ERROR: 1 << 2,
  /** Software interrupt (INT_RAISE). */
  SOFT: 1 << 3,
} as const;
export const EDU_INT_ALL = EduInt.FACT | EduInt.DMA | EduInt.ERROR | EduInt.SOFT;

export const EduCmd = {
  /** Read DMA_LEN bytes at DMA_SRC; DMA_RESULT = their CRC-32. */
  CHECKSUM: 1,
  /** Read DMA_LEN bytes at DMA_SRC, write them to DMA_DST; DMA_RESULT = their CRC-32. */
  COPY: 2,
} as const;

export const EduError = {
  NONE: 0,
  /** DMA_CMD was not an EduCmd. */
  BAD_COMMAND: 1,
  /** The DMA touched memory outside the function's IOMMU windows (or the link was down). */
  DMA_FAULT: 2,
  /** DMA_LEN was 0 or above EDU_DMA_MAX. */
  BAD_LENGTH: 3,
  /** A command was written while another was running; the new one was ignored. */
  BUSY: 4,
  /** Bus Master Enable is off: the function may not DMA. */
  NO_BUS_MASTER: 5,
} as const;

/** n! mod 2^32, as a C `uint32_t` loop computes it. From n = 34 on the product has 32 factors of two and is 0. */
export function factorialU32(n: number): number {
  let acc = 1;
  for (let i = 2; i <= n >>> 0 && acc !== 0; i++) acc = Math.imul(acc, i) >>> 0;
  return acc;
}

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb8_8320 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected 0xEDB88320: the same value as zlib's crc32 and Python's zlib.crc32). */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = (CRC32_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

// nitrolab edu, the teaching device (docs/labs/edu-device.md).
export { EduDevice, EduCounter } from './edu.ts';
export {
  EduRegs, EduIdentity, EduStatus, EduInt, EduCmd, EduError, EDU_ID, EDU_BAR0_SIZE, EDU_MSIX_BAR, EDU_MSIX_BAR_SIZE,
  EDU_MSIX_VECTORS, EDU_DMA_MAX, EDU_INT_ALL, factorialU32, crc32, type EduRegName,
} from './regs.ts';

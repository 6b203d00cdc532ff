// nitrolab edu: a teaching PCI function (docs/labs/edu-device.md). BAR0 is a 4 KiB block of 32-bit registers:
// an ID, a liveness check, a factorial unit, an interrupt status/raise/ack/enable block and a small DMA engine that
// checksums (CRC-32) or copies a guest buffer through the function's IOMMU windows; completions raise MSI-X vector 0.
import type { BarDecl, BarRegion, DeviceContext, PciDeviceModel, PciIdentity } from '../contract.ts';
import { DmaFault } from '../contract.ts';
import { iova } from '../brand.ts';
import {
  crc32, EDU_BAR0_SIZE, EDU_DMA_MAX, EDU_ID, EDU_INT_ALL, EDU_MSIX_BAR, EDU_MSIX_BAR_SIZE, EDU_MSIX_VECTORS, EduCmd,
  EduError, EduIdentity, EduInt, EduRegs, EduStatus, factorialU32, type EduRegName,
} from './regs.ts';

const R = EduRegs.offset;

/** One register: how it reads and what a 32-bit write does. Offsets come from EduRegs, never retyped. */
interface RegDef {
  readonly name: EduRegName;
  read(): number;
  write?(value: number): void;
}

/** Counter names (Prometheus style). */
export const EduCounter = {
  FACTORIALS: 'edu_factorials_total',
  DMA_COMMANDS: 'edu_dma_commands_total',
  DMA_BYTES: 'edu_dma_bytes_total',
  ERRORS: 'edu_errors_total',
  INTERRUPTS: 'edu_interrupts_total',
  BAD_ACCESS: 'edu_bad_access_total',
} as const;

export class EduDevice implements PciDeviceModel {
  readonly identity: PciIdentity = {
    vendorId: EduIdentity.VENDOR_ID, deviceId: EduIdentity.DEVICE_ID,
    subsystemVendorId: EduIdentity.SUBSYSTEM_VENDOR_ID, subsystemId: EduIdentity.SUBSYSTEM_ID,
    revisionId: EduIdentity.REVISION_ID, classCode: EduIdentity.CLASS_CODE,
  };
  readonly bars: readonly BarDecl[];
  readonly msixVectors = EDU_MSIX_VECTORS;
  readonly msixBar = EDU_MSIX_BAR;
  readonly msixTableOffset = 0;

  private liveness = 0;
  private factorial = 0;
  private status = 0;
  private error: number = EduError.NONE;
  private intStatus = 0;
  private intEnable = 0;
  private dmaSrc = [0, 0];
  private dmaDst = [0, 0];
  private dmaLen = 0;
  private dmaResult = 0;
  private busMaster = false;
  /** Bumped by reset: a DMA still in flight from before the reset must not touch the new state. */
  private epoch = 0;
  private readonly regs = new Map<number, RegDef>();

  constructor(private readonly ctx: DeviceContext) {
    const table: RegDef[] = [
      { name: 'ID', read: () => EDU_ID },
      { name: 'LIVENESS', read: () => ~this.liveness >>> 0, write: (v) => { this.liveness = v; } },
      { name: 'FACTORIAL', read: () => this.factorial, write: (v) => this.computeFactorial(v) },
      { name: 'STATUS', read: () => this.status },
      { name: 'ERROR', read: () => this.error },
      { name: 'INT_STATUS', read: () => this.intStatus },
      { name: 'INT_RAISE', read: () => 0, write: (v) => this.raise(v & EDU_INT_ALL) },
      { name: 'INT_ACK', read: () => 0, write: (v) => { this.intStatus = (this.intStatus & ~v) >>> 0; } },
      { name: 'INT_ENABLE', read: () => this.intEnable, write: (v) => { this.intEnable = v & EDU_INT_ALL; } },
      { name: 'DMA_SRC_LO', read: () => this.dmaSrc[0] ?? 0, write: (v) => { this.dmaSrc[0] = v; } },
      { name: 'DMA_SRC_HI', read: () => this.dmaSrc[1] ?? 0, write: (v) => { this.dmaSrc[1] = v; } },
      { name: 'DMA_DST_LO', read: () => this.dmaDst[0] ?? 0, write: (v) => { this.dmaDst[0] = v; } },
      { name: 'DMA_DST_HI', read: () => this.dmaDst[1] ?? 0, write: (v) => { this.dmaDst[1] = v; } },
      { name: 'DMA_LEN', read: () => this.dmaLen, write: (v) => { this.dmaLen = v; } },
      { name: 'DMA_CMD', read: () => 0, write: (v) => this.startCommand(v) },
      { name: 'DMA_RESULT', read: () => this.dmaResult },
    ];
    for (const r of table) this.regs.set(R[r.name], r);
    const bar0: BarRegion = { read: (off, size) => this.read(off, size), write: (off, size, v) => this.write(off, size, v) };
    // The MSI-X table and PBA are placed over BAR1 by the PCI function model; the region itself is never reached.
    const bar1: BarRegion = { read: () => 0, write: () => {} };
    this.bars = [
      { index: 0, size: EDU_BAR0_SIZE, is64: false, prefetchable: false, region: bar0 },
      { index: EDU_MSIX_BAR, size: EDU_MSIX_BAR_SIZE, is64: false, prefetchable: false, region: bar1 },
    ];
  }

  reset(): void {
    this.epoch++;
    this.liveness = 0;
    this.factorial = 0;
    this.status = 0;
    this.error = EduError.NONE;
    this.intStatus = 0;
    this.intEnable = 0;
    this.dmaSrc = [0, 0];
    this.dmaDst = [0, 0];
    this.dmaLen = 0;
    this.dmaResult = 0;
    this.busMaster = false;
  }

  busMasterChanged(enabled: boolean): void { this.busMaster = enabled; }

  // ---- register access -------------------------------------------------------------------------------------------

  /** 32-bit registers; a 1- or 2-byte read returns those bytes of the register. Unknown offsets read 0. */
  private read(off: number, size: 1 | 2 | 4): number {
    const base = off & ~3;
    const v = this.regs.get(base)?.read() ?? 0;
    return size === 4 ? v >>> 0 : (v >>> (8 * (off - base))) & (size === 1 ? 0xff : 0xffff);
  }

  /** Only aligned 32-bit writes have an effect; narrower ones are counted and ignored (the spec table says so). */
  private write(off: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4) {
      this.ctx.log.warn({ event: 'edu.narrow-write', offset: off, size });
      this.ctx.metrics.inc(EduCounter.BAD_ACCESS);
      return;
    }
    this.regs.get(off)?.write?.(value >>> 0);
  }

  // ---- engines ---------------------------------------------------------------------------------------------------

  private computeFactorial(n: number): void {
    this.factorial = factorialU32(n);
    this.ctx.metrics.inc(EduCounter.FACTORIALS);
    this.raise(EduInt.FACT);
  }

  /** Set INT_STATUS bits; any of them enabled in INT_ENABLE sends MSI-X vector 0 (masking is the function's job). */
  private raise(bits: number): void {
    this.intStatus = (this.intStatus | bits) >>> 0;
    if ((bits & this.intEnable) === 0) return;
    this.ctx.metrics.inc(EduCounter.INTERRUPTS);
    this.ctx.irq.raise(0);
  }

  private fail(code: number, detail: object): void {
    this.status = (this.status & ~EduStatus.BUSY) | EduStatus.ERROR;
    this.error = code;
    this.ctx.log.warn({ event: 'edu.command-failed', error: code, ...detail });
    this.ctx.metrics.inc(EduCounter.ERRORS);
    this.raise(EduInt.ERROR);
  }

  private startCommand(cmd: number): void {
    if (this.status & EduStatus.BUSY) {
      // The running command keeps going; the refused one is only reported.
      this.error = EduError.BUSY;
      this.ctx.log.warn({ event: 'edu.command-while-busy', cmd });
      this.ctx.metrics.inc(EduCounter.ERRORS);
      return;
    }
    this.status = 0;
    this.error = EduError.NONE;
    if (cmd !== EduCmd.CHECKSUM && cmd !== EduCmd.COPY) return this.fail(EduError.BAD_COMMAND, { cmd });
    if (this.dmaLen === 0 || this.dmaLen > EDU_DMA_MAX) return this.fail(EduError.BAD_LENGTH, { length: this.dmaLen });
    if (!this.busMaster) return this.fail(EduError.NO_BUS_MASTER, { cmd });
    const src = u64(this.dmaSrc);
    const dst = u64(this.dmaDst);
    if (src === undefined || (cmd === EduCmd.COPY && dst === undefined)) return this.fail(EduError.DMA_FAULT, { reason: 'address above 2^53' });
    this.status = EduStatus.BUSY;
    void this.runDma(cmd, src, dst ?? 0, this.dmaLen, this.epoch);
  }

  private async runDma(cmd: number, src: number, dst: number, len: number, epoch: number): Promise<void> {
    const buf = new Uint8Array(len);
    try {
      await this.ctx.dma.read(iova(src), buf);
      if (epoch !== this.epoch) return;
      if (cmd === EduCmd.COPY) await this.ctx.dma.write(iova(dst), buf);
    } catch (e) {
      if (epoch !== this.epoch) return;
      if (!(e instanceof DmaFault)) throw e;
      return this.fail(EduError.DMA_FAULT, { addr: e.addr, length: e.length, reason: e.reason });
    }
    if (epoch !== this.epoch) return;
    this.dmaResult = crc32(buf);
    this.status = 0;
    this.ctx.metrics.inc(EduCounter.DMA_COMMANDS);
    this.ctx.metrics.inc(EduCounter.DMA_BYTES, len);
    this.raise(EduInt.DMA);
  }
}

/** lo/hi halves → a number, or undefined at or above 2^53 (the link's u64 limit). */
function u64([lo, hi]: number[]): number | undefined {
  const h = hi ?? 0;
  return h >= 0x20_0000 ? undefined : h * 0x1_0000_0000 + (lo ?? 0);
}

// A toy PCI function (a stand-in used only by the link tests, not a real device): a 256-byte config space with an
// identity, and a BAR0 "copy engine": write SRC, DST, LEN, then DOORBELL; it DMA-reads LEN bytes at SRC, adds 1 to
// each byte, DMA-writes them to DST, records STATUS and raises MSI-X vector 0 at MSI_ADDR/MSI_DATA.
import { iova } from '../../../../src/devices/brand.ts';
import { DmaFault } from '../../../../src/devices/contract.ts';
import type { FunctionPort, PciFunctionHandler } from '../../../../src/devices/pcie/link/card-port.ts';

export const TOY_VENDOR = 0x1d0f;
export const TOY_DEVICE = 0x7070;
export const ToyReg = { SRC: 0x00, DST: 0x04, LEN: 0x08, DOORBELL: 0x0c, STATUS: 0x10, MSI_ADDR: 0x14, MSI_DATA: 0x18, SCRATCH: 0x1c } as const;
/** STATUS values: 0 idle/ok, 1 busy, 2 + index of the DmaFault reason. */
export const TOY_STATUS_FAULT: Record<DmaFault['reason'], number> = { unmapped: 2, permission: 3, 'link-down': 4, 'too-large': 5 };

export class ToyFunction implements PciFunctionHandler {
  readonly config = new Uint8Array(256);
  readonly regs = new Uint32Array(8);
  resets = 0;
  lastFault: DmaFault | undefined;
  private readonly cfg = new DataView(this.config.buffer);

  constructor(private readonly port: FunctionPort) {
    this.cfg.setUint16(0, TOY_VENDOR, true);
    this.cfg.setUint16(2, TOY_DEVICE, true);
  }

  configRead(off: number, size: number): number {
    if (off + size > 256) return 0;
    return size === 1 ? this.cfg.getUint8(off) : size === 2 ? this.cfg.getUint16(off, true) : this.cfg.getUint32(off, true);
  }

  configWrite(off: number, size: number, value: number): void {
    if (off < 4 || off + size > 256) return; // identity is read-only
    if (size === 1) this.cfg.setUint8(off, value);
    else if (size === 2) this.cfg.setUint16(off, value, true);
    else this.cfg.setUint32(off, value, true);
  }

  barRead(bar: number, off: number, _size: number): number {
    if (bar !== 0) return 0;
    return this.regs[off >> 2] ?? 0;
  }

  barWrite(bar: number, off: number, _size: number, value: number): void {
    if (bar !== 0 || this.regs[off >> 2] === undefined) return;
    this.regs[off >> 2] = value;
    if (off === ToyReg.DOORBELL) void this.run();
  }

  reset(): void {
    this.regs.fill(0);
    this.resets++;
  }

  private async run(): Promise<void> {
    const r = this.regs;
    r[ToyReg.STATUS >> 2] = 1;
    const buf = new Uint8Array(r[ToyReg.LEN >> 2] ?? 0);
    try {
      await this.port.dma.read(iova(r[ToyReg.SRC >> 2] ?? 0), buf);
      for (let i = 0; i < buf.length; i++) buf[i] = ((buf[i] ?? 0) + 1) & 0xff;
      await this.port.dma.write(iova(r[ToyReg.DST >> 2] ?? 0), buf);
      r[ToyReg.STATUS >> 2] = 0;
    } catch (e) {
      if (!(e instanceof DmaFault)) throw e;
      this.lastFault = e;
      r[ToyReg.STATUS >> 2] = TOY_STATUS_FAULT[e.reason];
    }
    this.port.sendMsi(r[ToyReg.MSI_ADDR >> 2] ?? 0, r[ToyReg.MSI_DATA >> 2] ?? 0, 0);
  }
}

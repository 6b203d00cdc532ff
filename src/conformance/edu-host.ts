// A minimal driver for the edu teaching device over the link (docs/labs/edu-device.md): registers by name through
// REGION_READ/WRITE on BAR0 (production layout, src/devices/edu/regs.ts), DMA commands run to completion by polling
// STATUS.BUSY, so a card whose MSI-X is broken still gets its DMA cases run (the MSI-X cases look at messages).
import type { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { Command } from '../devices/pcie/config-space.ts';
import { EduRegs, EduStatus, type EduRegName } from '../devices/edu/regs.ts';
import { FnHost } from './fn-host.ts';
import { Failure, hex } from './types.ts';
import { pollUntil } from './wait.ts';

const R = EduRegs.offset;

export interface EduOutcome { status: number; error: number; result: number; intStatus: number }

export class EduHost extends FnHost {
  /** Bind fn to `rc` with fresh guest RAM, map the low window, enable Memory Space and Bus Master. */
  static async attach(rc: RootComplex, fn: number, timeoutMs: number): Promise<EduHost> {
    const h = new EduHost(rc, fn, timeoutMs);
    await h.bindWindow();
    return h;
  }

  /** DEVICE_RESET, then Memory Space and Bus Master back on; captured messages dropped. */
  async fresh(): Promise<this> {
    await this.rc.reset(this.fn);
    await this.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
    this.msis.length = 0;
    return this;
  }

  reg(name: EduRegName): Promise<number> { return this.at(R[name]); }
  at(off: number): Promise<number> { return this.rc.barRead(this.fn, 0, off, 4).then((v) => v >>> 0); }
  write(name: EduRegName, v: number): void { this.rc.barWrite(this.fn, 0, R[name], 4, v >>> 0); }

  /** Poll STATUS until BUSY is clear; returns STATUS. */
  async idle(what: string): Promise<number> {
    let status = 0;
    const ok = await pollUntil(async () => ((status = await this.reg('STATUS')) & EduStatus.BUSY) === 0, this.timeoutMs);
    if (!ok) throw new Failure(`${what}: STATUS.BUSY still set after ${this.timeoutMs} ms (STATUS ${hex(status)})`);
    return status;
  }

  /** Program source, destination and length, write DMA_CMD and wait for the command to finish. */
  async dma(cmd: number, o: { src: number; dst?: number; len: number }, what: string): Promise<EduOutcome> {
    this.write('DMA_SRC_LO', o.src % 0x1_0000_0000);
    this.write('DMA_SRC_HI', Math.floor(o.src / 0x1_0000_0000));
    this.write('DMA_DST_LO', (o.dst ?? 0) % 0x1_0000_0000);
    this.write('DMA_DST_HI', Math.floor((o.dst ?? 0) / 0x1_0000_0000));
    this.write('DMA_LEN', o.len);
    this.write('DMA_CMD', cmd);
    const status = await this.idle(what);
    return { status, error: await this.reg('ERROR'), result: await this.reg('DMA_RESULT'), intStatus: await this.reg('INT_STATUS') };
  }
}

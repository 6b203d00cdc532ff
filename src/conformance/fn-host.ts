// What every function driver of the suite shares (docs/conformance.md §3.3): fresh guest RAM bound to the function,
// the low window mapped in the IOMMU (IOVA = GPA), Memory Space and Bus Master on, MSI-X messages captured, and the
// MSI-X table/PBA programmed as a driver does. NvmeHost and VirtioHost build on it.
import { gpa, iova } from '../devices/brand.ts';
import { readU64Number, viewOf } from '../devices/layout.ts';
import { walkCapabilities, CapId, MsixCap, MsixControl } from '../devices/pcie/capabilities.ts';
import { Command, Type0Header } from '../devices/pcie/config-space.ts';
import { MsixTableEntry } from '../devices/pcie/msix.ts';
import type { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { GUEST_BYTES, MSI_ADDRESS, MSI_DATA_BASE, WINDOW_BYTES, guestRam } from './guest.ts';

export interface MsixLayout { capOff: number; size: number; tableBar: number; tableOff: number; pbaBar: number; pbaOff: number }

export class FnHost {
  readonly mem = guestRam();
  readonly view = viewOf(this.mem);
  readonly msis: { vector: number; address: number; data: number }[] = [];

  /** Capture this function's MSI-X messages; messages for other functions go to the handler installed before. */
  protected constructor(readonly rc: RootComplex, readonly fn: number, readonly timeoutMs: number) {
    const prev = rc.onMsi;
    rc.onMsi = (f, address, data, vector) => {
      if (f === fn) this.msis.push({ vector, address, data });
      else prev(f, address, data, vector);
    };
  }

  /** Bind the function to this RAM, map the low window read/write, enable Memory Space and Bus Master. */
  protected async bindWindow(): Promise<void> {
    await this.rc.bind(this.fn, this.mem);
    await this.rc.map(this.fn, iova(0), gpa(0), WINDOW_BYTES, true);
    await this.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
  }

  async setCommand(v: number): Promise<void> { await this.rc.configWrite(this.fn, Type0Header.offset.command, 2, v); }

  /** Find the MSI-X capability and decode its table/PBA placement. */
  async msixLayout(): Promise<MsixLayout | undefined> {
    const bytes = new Uint8Array(256);
    for (let o = 0; o < 256; o += 4) viewOf(bytes).setUint32(o, await this.rc.configRead(this.fn, o, 4), true);
    const cap = walkCapabilities((o) => bytes[o] ?? 0).find((c) => c.id === CapId.MSIX);
    if (cap === undefined) return undefined;
    const v = viewOf(bytes);
    const ctl = v.getUint16(cap.offset + MsixCap.offset.messageControl, true);
    const t = v.getUint32(cap.offset + MsixCap.offset.tableOffsetBir, true);
    const p = v.getUint32(cap.offset + MsixCap.offset.pbaOffsetBir, true);
    return {
      capOff: cap.offset, size: (ctl & MsixControl.TABLE_SIZE_MASK) + 1,
      tableBar: t & MsixControl.BIR_MASK, tableOff: t & ~7, pbaBar: p & MsixControl.BIR_MASK, pbaOff: p & ~7,
    };
  }

  /** Program vector n (address, data = MSI_DATA_BASE + n) and its mask. */
  programVector(l: MsixLayout, n: number, masked: boolean): void {
    const e = l.tableOff + n * MsixTableEntry.size;
    const E = MsixTableEntry.offset;
    this.rc.barWrite(this.fn, l.tableBar, e + E.addressLo, 4, MSI_ADDRESS);
    this.rc.barWrite(this.fn, l.tableBar, e + E.addressHi, 4, 0);
    this.rc.barWrite(this.fn, l.tableBar, e + E.data, 4, MSI_DATA_BASE + n);
    this.rc.barWrite(this.fn, l.tableBar, e + E.vectorControl, 4, masked ? 1 : 0);
  }

  setVectorMask(l: MsixLayout, n: number, masked: boolean): void {
    this.rc.barWrite(this.fn, l.tableBar, l.tableOff + n * MsixTableEntry.size + MsixTableEntry.offset.vectorControl, 4, masked ? 1 : 0);
  }

  async setMsixControl(l: MsixLayout, enable: boolean, functionMask: boolean): Promise<void> {
    const v = (enable ? MsixControl.ENABLE : 0) | (functionMask ? MsixControl.FUNCTION_MASK : 0);
    await this.rc.configWrite(this.fn, l.capOff + MsixCap.offset.messageControl, 2, v);
  }

  async pbaBit(l: MsixLayout, n: number): Promise<boolean> {
    const w = await this.rc.barRead(this.fn, l.pbaBar, l.pbaOff + Math.floor(n / 32) * 4, 4);
    return ((w >>> (n % 32)) & 1) === 1;
  }

  u64(off: number): number { return readU64Number(this.view, off); }
  /** Guest RAM outside the window, as a snapshot to prove the card did not touch it. */
  outsideSnapshot(): Uint8Array { return this.mem.slice(WINDOW_BYTES, GUEST_BYTES); }
}

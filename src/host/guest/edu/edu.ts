// The guest driver for nitrolab's edu teaching device (docs/labs/edu-device.md) — written to be read and copied.
// It does what every PCI driver does, in the order a Linux driver's probe() does it:
//
//   1. the kernel already enumerated the function: its BARs have addresses, Memory Space and Bus Master are on;
//   2. check the ID register (is this really the device, and a version we understand?);
//   3. check liveness (is the device alive, do our MMIO writes and reads reach it?);
//   4. set up the interrupt: one MSI-X vector, a handler, and the device's INT_ENABLE;
//   5. get a DMA buffer the device may read and write (guest RAM; the card maps it with IOVA = GPA);
//   6. then serve requests: factorial (MMIO only), checksum and copy (DMA + MSI-X completion).
//
// MMIO goes through the platform (each access is a link frame to the card); a write is posted, a read waits for the
// card's answer, and PCIe ordering means a read also flushes the writes before it.
import { crc32 as cpuCrc32 } from 'node:zlib';
import {
  EDU_DMA_MAX, EduCmd, EduError, EduInt, EduRegs, type EduRegName,
} from '../../../devices/edu/regs.ts';
import type { PciDevice } from '../pci.ts';
import { bdf } from '../pci.ts';
import type { DmaBuffer } from '../page-alloc.ts';
import type { DriverInstance, KernelServices } from '../services.ts';

const R = EduRegs.offset;
const ID_MAJOR_SUPPORTED = 1;
/** How long a command may take before the driver gives up on its interrupt (guest time). */
const COMMAND_TIMEOUT_MS = 2000;

export class EduDriverError extends Error {}

export class EduFunction implements DriverInstance {
  readonly name: string;
  version = '';
  /** The guest interrupt vector MSI-X entry 0 was programmed with. */
  vector = 0;
  /** Interrupts taken, and the INT_STATUS bits the handler saw last. */
  interrupts = 0;
  private buf: DmaBuffer | undefined;
  /** The command waiting for its interrupt: resolved by the handler with the INT_STATUS bits it acknowledged. */
  private waiter: ((bits: number) => void) | undefined;
  /** Commands run one at a time (the device has one set of DMA registers). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly k: KernelServices, readonly dev: PciDevice) {
    this.name = `edu ${bdf(dev.slot)}`;
  }

  // ---- register access: BAR0, 32-bit only ------------------------------------------------------------------------
  private read(reg: EduRegName): Promise<number> {
    return this.k.platform.mmioRead(this.dev.slot, 0, R[reg], 4).then((v) => v >>> 0);
  }
  private write(reg: EduRegName, value: number): void {
    this.k.platform.mmioWrite(this.dev.slot, 0, R[reg], 4, value >>> 0);
  }

  /** Steps 2–5 above. Throws (the kernel logs it and leaves the device unbound) if the device is not usable. */
  async probe(): Promise<void> {
    if (!this.dev.bars.some((b) => b.index === 0 && b.address !== 0)) throw new EduDriverError('BAR0 has no address');

    // 2. ID: 0xRRrr00ED — RR major, rr minor. A driver refuses a major it was not written for.
    const id = await this.read('ID');
    if ((id & 0xffff) !== 0x00ed) throw new EduDriverError(`ID register 0x${id.toString(16)} is not an edu device`);
    const major = id >>> 24;
    if (major !== ID_MAJOR_SUPPORTED) throw new EduDriverError(`edu version ${major}.x is not supported (driver knows ${ID_MAJOR_SUPPORTED}.x)`);
    this.version = `${major}.${(id >>> 16) & 0xff}`;

    // 3. Liveness: the device answers the bitwise NOT of what we wrote. Two patterns catch stuck bits either way.
    for (const pattern of [0x1234_5678, 0xedcb_a987]) {
      this.write('LIVENESS', pattern);
      const got = await this.read('LIVENESS');
      if (got !== (~pattern >>> 0)) throw new EduDriverError(`liveness check failed: wrote 0x${pattern.toString(16)}, read 0x${got.toString(16)}`);
    }

    // 4. Interrupts: one vector from the kernel, our handler on it, MSI-X entry 0 → that vector, then tell the
    //    device which events should interrupt. Acknowledge anything stale first.
    [this.vector] = this.k.irqs.allocate(1, this.name) as [number];
    this.k.irqs.setHandler(this.vector, () => { void this.onInterrupt(); });
    await this.k.pci.enableMsix(this.dev, [this.vector]);
    this.write('INT_ACK', 0xffff_ffff);
    this.write('INT_ENABLE', EduInt.FACT | EduInt.DMA | EduInt.ERROR);

    // 5. A DMA buffer: contiguous guest pages, room for a copy's source and destination. The device sees them at
    //    IOVA = GPA: the card maps the VM's RAM for this function that way (docs/ARCHITECTURE.md §5).
    this.buf = this.k.pages.allocBytes(2 * EDU_DMA_MAX);
    this.k.log.info(`${this.name}: nitrolab edu v${this.version}, liveness ok, MSI-X vector 0x${this.vector.toString(16)}`);
  }

  /** The interrupt handler: read what happened, acknowledge exactly that, wake the command waiting for it. */
  private async onInterrupt(): Promise<void> {
    const bits = await this.read('INT_STATUS');
    this.write('INT_ACK', bits);
    this.interrupts++;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(bits);
  }

  /** Arm the waiter before starting the command, so an interrupt that comes at once is not missed. */
  private async runCommand(start: () => void, what: string): Promise<number> {
    const done = new Promise<number>((resolve) => { this.waiter = resolve; });
    start();
    const bits = await Promise.race([done, this.k.platform.sleep(COMMAND_TIMEOUT_MS).then(() => -1)]);
    if (bits < 0) {
      this.waiter = undefined;
      throw new EduDriverError(`${what}: no interrupt within ${COMMAND_TIMEOUT_MS} ms (STATUS 0x${(await this.read('STATUS')).toString(16)})`);
    }
    if (bits & EduInt.ERROR) throw new EduDriverError(`${what}: the device reports ${errorName(await this.read('ERROR'))}`);
    return bits;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** n! mod 2^32 — computed by the device; the driver waits for the FACT interrupt, then reads the result. */
  factorial(n: number): Promise<number> {
    return this.serial(async () => {
      await this.runCommand(() => this.write('FACTORIAL', n), `factorial ${n}`);
      return this.read('FACTORIAL');
    });
  }

  /** CRC-32 of `data`, computed by the device over DMA. Also returns the CPU's CRC-32 of the same bytes. */
  checksum(data: Uint8Array): Promise<{ device: number; cpu: number }> {
    return this.serial(async () => {
      const buf = this.dmaBuffer(data.length);
      buf.bytes.set(data);
      this.write('DMA_SRC_LO', buf.gpa % 0x1_0000_0000);
      this.write('DMA_SRC_HI', Math.floor(buf.gpa / 0x1_0000_0000));
      this.write('DMA_LEN', data.length);
      await this.runCommand(() => this.write('DMA_CMD', EduCmd.CHECKSUM), 'checksum');
      return { device: await this.read('DMA_RESULT'), cpu: cpuCrc32(data) };
    });
  }

  /** DMA copy inside the buffer: the first `len` bytes to the second half; returns whether the bytes arrived. */
  copy(data: Uint8Array): Promise<{ same: boolean; device: number; cpu: number }> {
    return this.serial(async () => {
      const buf = this.dmaBuffer(data.length, 2);
      buf.bytes.set(data);
      buf.bytes.fill(0, data.length, data.length * 2);
      const dst = buf.gpa + data.length;
      this.write('DMA_SRC_LO', buf.gpa % 0x1_0000_0000);
      this.write('DMA_SRC_HI', Math.floor(buf.gpa / 0x1_0000_0000));
      this.write('DMA_DST_LO', dst % 0x1_0000_0000);
      this.write('DMA_DST_HI', Math.floor(dst / 0x1_0000_0000));
      this.write('DMA_LEN', data.length);
      // The DMA_WRITE reaches guest RAM before the MSI-X that follows it (docs/link-protocol.md §5).
      await this.runCommand(() => this.write('DMA_CMD', EduCmd.COPY), 'copy');
      const copied = buf.bytes.subarray(data.length, data.length * 2);
      return { same: Buffer.compare(copied, data) === 0, device: await this.read('DMA_RESULT'), cpu: cpuCrc32(data) };
    });
  }

  /** The DMA buffer, if `len` bytes (one command's length, 1..EDU_DMA_MAX) fit the device's limit. */
  private dmaBuffer(len: number, copies = 1): DmaBuffer {
    if (this.buf === undefined) throw new EduDriverError('the device is not probed');
    if (len < 1 || len > EDU_DMA_MAX) throw new EduDriverError(`length ${len} is outside 1..${EDU_DMA_MAX}`);
    if (len * copies > this.buf.bytes.length) throw new EduDriverError(`length ${len} does not fit the DMA buffer`);
    return this.buf;
  }

  /** Poweroff: stop interrupts, give the vector and the pages back. Never throws. */
  async shutdown(): Promise<void> {
    try {
      this.write('INT_ENABLE', 0);
      await this.k.pci.disableMsix(this.dev);
    } catch {
      // the device is going away anyway
    }
    if (this.vector) this.k.irqs.free([this.vector]);
    if (this.buf) this.k.pages.release(this.buf);
    this.buf = undefined;
  }
}

export function errorName(code: number): string {
  const name = Object.entries(EduError).find(([, v]) => v === code)?.[0];
  return name === undefined ? `error ${code}` : `${name} (${code})`;
}

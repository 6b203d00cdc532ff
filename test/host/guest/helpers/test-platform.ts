// TestPlatform: a stand-in GuestPlatform for guest tests (NOT the host emulator). Devices are in-process objects on
// bus slots; guest time is real monotonic time plus a virtual skip, and `sleep` timers fire as soon as the system has
// been quiet for a few event-loop turns, so timeouts of seconds take no wall time and tests hold no timings.
import type { GuestPlatform } from '../../../../src/host/guest/platform.ts';

/** What a slot holds: a PCI function seen from the bus (synchronous register model). */
export interface TestPciFunction {
  configRead(off: number, size: 1 | 2 | 4): number;
  configWrite(off: number, size: 1 | 2 | 4, value: number): void;
  barRead(bar: number, off: number, size: 1 | 2 | 4): number;
  barWrite(bar: number, off: number, size: 1 | 2 | 4, value: number): void;
}

export interface TestPlatformOptions {
  memBytes?: number;
  slots?: number;
  userData?: string;
  hostname?: string;
}

interface Timer { at: bigint; resolve: () => void }

export class TestPlatform implements GuestPlatform {
  readonly mem: Uint8Array;
  readonly slots: number;
  readonly userData: string;
  readonly hostname: string;
  readonly devices = new Map<number, TestPciFunction>();
  /** Everything the guest wrote to its console. */
  output = '';
  poweredOff = false;
  /** MSIs delivered (data values) and MSIs whose address was not the APIC window. */
  readonly msis: number[] = [];
  readonly badMsis: { address: number; data: number }[] = [];
  private irqHandler: ((v: number) => void) | undefined;
  private inputHandler: ((t: string) => void) | undefined;
  private readonly t0 = process.hrtime.bigint();
  private skipNs = 0n;
  private timers: Timer[] = [];
  private activity = 0;
  private pumping = false;
  private outputWaiters: { re: RegExp; from: number; resolve: (m: string) => void }[] = [];

  constructor(o: TestPlatformOptions = {}) {
    this.mem = new Uint8Array(o.memBytes ?? 16 << 20);
    this.slots = o.slots ?? 32;
    this.userData = o.userData ?? '';
    this.hostname = o.hostname ?? 'ip-10-0-0-1';
  }

  attach(slot: number, fn: TestPciFunction): void {
    this.devices.set(slot, fn);
  }

  // ---- GuestPlatform ---------------------------------------------------------------------------------------------
  async cfgRead(slot: number, off: number, size: 1 | 2 | 4): Promise<number> {
    this.activity++;
    const d = this.devices.get(slot);
    if (!d) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
    return d.configRead(off, size);
  }
  async cfgWrite(slot: number, off: number, size: 1 | 2 | 4, value: number): Promise<void> {
    this.activity++;
    this.devices.get(slot)?.configWrite(off, size, value);
  }
  async mmioRead(slot: number, bar: number, off: number, size: 1 | 2 | 4): Promise<number> {
    this.activity++;
    const d = this.devices.get(slot);
    return d ? d.barRead(bar, off, size) : 0xffff_ffff;
  }
  mmioWrite(slot: number, bar: number, off: number, size: 1 | 2 | 4, value: number): void {
    this.activity++;
    this.devices.get(slot)?.barWrite(bar, off, size, value);
  }
  onInterrupt(handler: (vector: number) => void): void { this.irqHandler = handler; }
  consoleWrite(text: string): void {
    this.output += text;
    for (const w of [...this.outputWaiters]) {
      const m = w.re.exec(this.output.slice(w.from));
      if (m) {
        this.outputWaiters.splice(this.outputWaiters.indexOf(w), 1);
        w.resolve(m[0]);
      }
    }
  }
  onConsoleInput(handler: (text: string) => void): void { this.inputHandler = handler; }
  nowNs(): bigint { return process.hrtime.bigint() - this.t0 + this.skipNs; }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: this.nowNs() + BigInt(Math.round(ms * 1e6)), resolve });
      this.pump();
    });
  }
  yield(): Promise<void> { return new Promise((r) => setImmediate(r)); }
  /** Device-side timer on the same clock as `sleep` (for a DeviceContext's Clock). */
  setTimer(ms: number, fn: () => void): () => void {
    let live = true;
    void this.sleep(ms).then(() => { if (live) fn(); });
    return () => { live = false; };
  }
  cpuWork(iterations: number): number {
    let x = 0x9e3779b9;
    for (let i = 0; i < iterations; i++) x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i;
    return x >>> 0;
  }
  powerOff(): void { this.poweredOff = true; }

  // ---- device side -----------------------------------------------------------------------------------------------
  /** A device's MSI-X write: a posted 32-bit write of `data` to `address`, delivered after the current task. */
  deliverMsi(address: number, data: number): void {
    this.activity++;
    if (address !== 0xfee0_0000) {
      this.badMsis.push({ address, data });
      return;
    }
    this.msis.push(data);
    queueMicrotask(() => this.irqHandler?.(data));
  }

  /** Count device work as activity, so virtual time does not jump while a device is busy. */
  touch(): void { this.activity++; }

  // ---- test side -------------------------------------------------------------------------------------------------
  type(text: string): void {
    this.inputHandler?.(text);
  }

  /** Resolve when console output after position `from` matches `re`. */
  waitFor(re: RegExp, from = 0): Promise<string> {
    const m = re.exec(this.output.slice(from));
    if (m) return Promise.resolve(m[0]);
    return new Promise((resolve) => this.outputWaiters.push({ re, from, resolve }));
  }

  /** Fire due timers; when the system has been quiet for a few turns, jump virtual time to the next timer. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let quiet = 0;
    let seen = this.activity;
    const tick = (): void => {
      const now = this.nowNs();
      const due = this.timers.filter((t) => t.at <= now);
      if (due.length > 0) {
        this.timers = this.timers.filter((t) => t.at > now);
        for (const t of due) t.resolve();
        quiet = 0;
      } else if (this.activity !== seen) {
        seen = this.activity;
        quiet = 0;
      } else if (++quiet >= 4 && this.timers.length > 0) {
        const next = this.timers.reduce((a, b) => (a.at < b.at ? a : b));
        this.skipNs += next.at - now;
        quiet = 0;
      }
      if (this.timers.length === 0) {
        this.pumping = false;
        return;
      }
      setImmediate(tick);
    };
    setImmediate(tick);
  }
}

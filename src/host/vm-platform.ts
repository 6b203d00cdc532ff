// GuestPlatform for one VM on a pCPU worker: config and BAR accesses go to the VF assigned at that slot, over the
// link, straight to the card (offload mode) — the hypervisor is not on this path. MSI-X messages from the card arrive
// here as posted writes and are delivered to the guest as its programmed vector (a posted interrupt).
import { MSI_ADDRESS, type GuestPlatform } from './guest/platform.ts';

/** What the host end of the link offers per function (implemented by the root complex). */
export interface FunctionAccess {
  configRead(fn: number, off: number, size: 1 | 2 | 4): Promise<number>;
  configWrite(fn: number, off: number, size: 1 | 2 | 4, value: number): Promise<void>;
  barRead(fn: number, bar: number, off: number, size: 1 | 2 | 4): Promise<number>;
  barWrite(fn: number, bar: number, off: number, size: 1 | 2 | 4, value: number): void;
  /** Optional: a posted doorbell write carrying the entries it announces (DOORBELL_PUSH). */
  barPush?(fn: number, bar: number, off: number, value: number, start: number, entrySize: number, entries: Uint8Array): void;
}

const ALL_ONES = { 1: 0xff, 2: 0xffff, 4: 0xffff_ffff } as const;

export class VmPlatform implements GuestPlatform {
  readonly mem: Uint8Array;
  readonly slots = 32;
  private readonly slotToFn = new Map<number, number>();
  private irqHandler: ((vector: number) => void) | undefined;
  private inputHandler: ((text: string) => void) | undefined;
  private readonly pendingInput: string[] = [];
  private stopped = false;
  private readonly t0 = process.hrtime.bigint();
  /** Counters the worker reports in its stats. */
  readonly counters = { mmioReads: 0, mmioWrites: 0, cfgAccesses: 0, interrupts: 0, badMsi: 0 };

  constructor(
    readonly vmId: string,
    mem: SharedArrayBuffer,
    readonly userData: string,
    readonly hostname: string,
    private readonly link: FunctionAccess,
    private readonly console: (text: string) => void,
    private readonly onPowerOff: () => void,
  ) {
    this.mem = new Uint8Array(mem);
  }

  assign(fn: number, slot: number): void { this.slotToFn.set(slot, fn); }
  unassign(fn: number): void {
    for (const [s, f] of this.slotToFn) if (f === fn) this.slotToFn.delete(s);
  }
  functions(): number[] { return [...this.slotToFn.values()]; }
  /** [slot, fn] pairs, to carry the VF assignments over to the platform of the next power cycle. */
  slotAssignments(): Array<[number, number]> { return [...this.slotToFn]; }
  owns(fn: number): boolean { return this.functions().includes(fn); }
  private haltResolve: (() => void) | undefined;
  /** Resolves when the VM is halted from outside (stop, destroy) or powers itself off. */
  readonly whenHalted = new Promise<void>((r) => { this.haltResolve = r; });
  halt(): void {
    this.stopped = true;
    this.haltResolve?.();
  }
  get halted(): boolean { return this.stopped; }

  /** An MSI-X message from the card for one of this VM's functions. */
  deliverMsi(address: number, data: number): void {
    if (this.stopped) return;
    if (Math.floor(address / 0x10_0000) !== MSI_ADDRESS / 0x10_0000) {
      this.counters.badMsi++;
      return;
    }
    this.counters.interrupts++;
    this.irqHandler?.(data);
  }

  input(text: string): void {
    if (this.inputHandler) this.inputHandler(text);
    else this.pendingInput.push(text);
  }

  async cfgRead(slot: number, off: number, size: 1 | 2 | 4): Promise<number> {
    this.counters.cfgAccesses++;
    const fn = this.slotToFn.get(slot);
    if (fn === undefined || this.stopped) return ALL_ONES[size];
    return this.link.configRead(fn, off, size);
  }

  async cfgWrite(slot: number, off: number, size: 1 | 2 | 4, value: number): Promise<void> {
    this.counters.cfgAccesses++;
    const fn = this.slotToFn.get(slot);
    if (fn === undefined || this.stopped) return;
    await this.link.configWrite(fn, off, size, value);
  }

  async mmioRead(slot: number, bar: number, off: number, size: 1 | 2 | 4): Promise<number> {
    this.counters.mmioReads++;
    const fn = this.slotToFn.get(slot);
    if (fn === undefined || this.stopped) return ALL_ONES[size];
    return this.link.barRead(fn, bar, off, size);
  }

  mmioWrite(slot: number, bar: number, off: number, size: 1 | 2 | 4, value: number): void {
    this.counters.mmioWrites++;
    const fn = this.slotToFn.get(slot);
    if (fn === undefined || this.stopped) return;
    this.link.barWrite(fn, bar, off, size, value);
  }

  /** A doorbell with pushed entries, where the link carries them; otherwise (e.g. legacy mode's trapped functions)
   *  the plain doorbell write, and the device fetches the entries by DMA. */
  mmioPush(slot: number, bar: number, off: number, value: number, start: number, entrySize: number, entries: Uint8Array): void {
    this.counters.mmioWrites++;
    const fn = this.slotToFn.get(slot);
    if (fn === undefined || this.stopped) return;
    if (this.link.barPush !== undefined) this.link.barPush(fn, bar, off, value, start, entrySize, entries);
    else this.link.barWrite(fn, bar, off, 4, value);
  }

  /** The worker's link to the card went down or came back (host-link.ts); the guest kernel hears it. */
  linkChanged(up: boolean): void {
    if (!this.stopped) this.linkHandler?.(up);
  }
  onLinkChange(handler: (up: boolean) => void): void { this.linkHandler = handler; }
  private linkHandler: ((up: boolean) => void) | undefined;

  onInterrupt(handler: (vector: number) => void): void { this.irqHandler = handler; }
  consoleWrite(text: string): void { if (!this.stopped) this.console(text); }
  onConsoleInput(handler: (text: string) => void): void {
    this.inputHandler = handler;
    for (const t of this.pendingInput.splice(0)) handler(t);
  }
  nowNs(): bigint { return process.hrtime.bigint() - this.t0; }
  sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }
  yield(): Promise<void> { return new Promise((r) => setImmediate(r)); }
  cpuWork(iterations: number): number {
    let x = 0x9e3779b9;
    for (let i = 0; i < iterations; i++) x = (Math.imul(x ^ (x >>> 15), 0x85ebca6b) + i) | 0;
    return x >>> 0;
  }
  powerOff(): void { this.onPowerOff(); }
}

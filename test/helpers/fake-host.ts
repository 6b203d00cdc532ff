// A fake host for device tests (a stand-in used only inside unit tests): guest memory, a DMA port limited to the
// windows a test maps (like the IOMMU), MSI-X capture, a manually stepped clock, and in-memory logs and metrics.
import { DmaFault, type Clock, type DeviceContext, type DeviceLog, type DeviceMetrics, type DmaPort, type IrqPort, type TraceEvent } from '../../src/devices/contract.ts';
import type { Iova } from '../../src/devices/brand.ts';

export interface LoggedEvent { level: string; obj: object; msg?: string | undefined }

export class FakeHost {
  readonly mem: Uint8Array;
  readonly view: DataView;
  readonly windows: { start: number; end: number; write: boolean }[] = [];
  readonly irqs: number[] = [];
  readonly logs: LoggedEvent[] = [];
  readonly counters = new Map<string, number>();
  readonly traces: TraceEvent[] = [];
  readonly dmaFaults: DmaFault[] = [];
  nowNs = 0n;
  private timers: { at: bigint; fn: () => void; live: boolean }[] = [];
  private irqWaiters: (() => void)[] = [];

  constructor(memBytes = 4 << 20) {
    this.mem = new Uint8Array(memBytes);
    this.view = new DataView(this.mem.buffer);
    this.map(0, memBytes, true);
  }

  /** Map [start, start+size) for DMA; the constructor maps all of memory — call `unmapAll()` first to narrow it. */
  map(start: number, size: number, write = true): void {
    this.windows.push({ start, end: start + size, write });
  }
  unmapAll(): void { this.windows.length = 0; }

  private check(addr: number, len: number, write: boolean): void {
    const w = this.windows.find((w) => addr >= w.start && addr + len <= w.end);
    if (!w) throw new DmaFault(addr, len, 'unmapped');
    if (write && !w.write) throw new DmaFault(addr, len, 'permission');
  }

  readonly dma: DmaPort = {
    read: async (addr: Iova, dst: Uint8Array) => {
      try { this.check(addr, dst.length, false); } catch (e) { this.dmaFaults.push(e as DmaFault); throw e; }
      dst.set(this.mem.subarray(addr, addr + dst.length));
    },
    write: async (addr: Iova, src: Uint8Array) => {
      try { this.check(addr, src.length, true); } catch (e) { this.dmaFaults.push(e as DmaFault); throw e; }
      this.mem.set(src, addr);
    },
  };

  readonly irq: IrqPort = {
    raise: (vector: number) => {
      this.irqs.push(vector);
      const w = this.irqWaiters.splice(0);
      for (const f of w) f();
    },
  };

  readonly clock: Clock = {
    nowNs: () => this.nowNs,
    setTimer: (ms: number, fn: () => void) => {
      const t = { at: this.nowNs + BigInt(Math.round(ms * 1e6)), fn, live: true };
      this.timers.push(t);
      return () => { t.live = false; };
    },
  };

  /** Advance the fake clock, firing due timers in order. */
  advance(ms: number): void {
    this.nowNs += BigInt(Math.round(ms * 1e6));
    const due = this.timers.filter((t) => t.live && t.at <= this.nowNs).sort((a, b) => (a.at < b.at ? -1 : 1));
    this.timers = this.timers.filter((t) => t.live && t.at > this.nowNs);
    for (const t of due) t.fn();
  }

  readonly log: DeviceLog = {
    debug: (obj, msg) => this.logs.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => this.logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => this.logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => this.logs.push({ level: 'error', obj, msg }),
  };

  readonly metrics: DeviceMetrics = {
    inc: (name, by = 1) => this.counters.set(name, (this.counters.get(name) ?? 0) + by),
    observe: () => {},
  };

  context(): DeviceContext {
    return {
      dma: this.dma, irq: this.irq, clock: this.clock, log: this.log, metrics: this.metrics,
      trace: { sampling: () => true, emit: (e) => this.traces.push(e) },
    };
  }

  /** Resolve once at least `n` interrupts have been captured in total. */
  async waitIrqs(n: number): Promise<void> {
    while (this.irqs.length < n) await new Promise<void>((r) => this.irqWaiters.push(r));
  }

  /** Let queued async device work run (microtasks and immediates). */
  async settle(rounds = 5): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /** Named events logged so far (the `event` field of log objects). */
  events(): string[] {
    return this.logs.map((l) => (l.obj as { event?: string }).event).filter((e): e is string => e !== undefined);
  }
}

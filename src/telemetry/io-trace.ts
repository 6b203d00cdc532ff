// Sampled I/O traces for the panel's transaction timeline: one command in every N doorbells is followed from the
// doorbell to its MSI-X (NVMe controller `ctx.trace` events), plus, in legacy mode, the VM exit that delivered the
// doorbell to the hypervisor and the interrupt injection that delivered the MSI-X to the guest.
import type { TraceEvent } from '../devices/contract.ts';

export type TraceKind = TraceEvent['kind'];
export interface TraceStep { tNs: number; kind: TraceKind; detail: string }
export interface Transaction { mode: 'offload' | 'legacy'; fn: number; steps: TraceStep[] }

export interface IoTracerOptions {
  mode: 'offload' | 'legacy';
  /** Trace one doorbell in `every` (default 64). */
  every?: number;
  /** How many finished transactions to keep (default 8). */
  keep?: number;
}

/** A transaction that never reaches its interrupt (masked vector, reset) is dropped after this long. */
const STALE_NS = 1_000_000_000n;
const MAX_STEPS = 64;

interface Open { fn: number; startNs: bigint; steps: TraceStep[]; awaitingInject: boolean; hadExit: boolean }

export class IoTracer {
  readonly mode: 'offload' | 'legacy';
  readonly every: number;
  readonly #keep: number;
  #count = 0;
  #open: Open | undefined;
  readonly #done: Transaction[] = [];
  #exit: { fn: number; trapNs: bigint; recvNs: bigint; detail: string } | undefined;
  /** Transactions completed so far. */
  completed = 0;

  constructor(o: IoTracerOptions) {
    this.mode = o.mode;
    this.every = Math.max(1, o.every ?? 64);
    this.#keep = Math.max(1, o.keep ?? 8);
  }

  /** The DeviceContext.trace a device model gets. */
  readonly port = {
    sampling: (): boolean => this.sampling(),
    emit: (e: TraceEvent): void => this.emit(e),
  };

  sampling(): boolean {
    const now = process.hrtime.bigint();
    if (this.#open !== undefined && now - this.#open.startNs < STALE_NS) return false;
    this.#open = undefined;
    if (++this.#count % this.every !== 0) return false;
    const x = this.#exit;
    this.#open = { fn: x?.fn ?? -1, startNs: x?.trapNs ?? now, steps: [], awaitingInject: false, hadExit: x !== undefined };
    if (x !== undefined) {
      this.#open.steps.push({ tNs: Number(x.trapNs), kind: 'doorbell', detail: `${x.detail}: the guest's MMIO write traps (VM exit)` });
      this.#open.steps.push({ tNs: Number(x.recvNs), kind: 'exit', detail: 'the hypervisor thread takes the exit and runs the device model' });
    }
    return true;
  }

  emit(e: TraceEvent): void {
    const o = this.#open;
    if (o === undefined) return;
    o.fn = e.fn;
    if (o.hadExit && e.kind === 'doorbell') {
      const exit = o.steps[1];
      if (exit !== undefined) exit.detail += ` (device model sees ${e.detail})`;
      return;
    }
    o.steps.push({ tNs: Number(e.tNs), kind: e.kind, detail: e.detail });
    if (e.kind === 'msix') {
      if (this.mode === 'legacy') o.awaitingInject = true;
      else this.#close();
    } else if (o.steps.length >= MAX_STEPS) this.#close();
  }

  /** Legacy: the trapped access the hypervisor is handling now (set around the device model call). */
  noteExit(x: { fn: number; trapNs: bigint; recvNs: bigint; detail: string } | undefined): void {
    this.#exit = x;
  }

  /** Legacy: the hypervisor injected an interrupt for `fn` into its guest. */
  noteInject(fn: number, tNs: bigint, detail: string): void {
    const o = this.#open;
    if (o === undefined || !o.awaitingInject || o.fn !== fn) return;
    o.steps.push({ tNs: Number(tNs), kind: 'inject', detail });
    this.#close();
  }

  /** Finished transactions, newest first. */
  transactions(): Transaction[] {
    return [...this.#done].reverse();
  }

  #close(): void {
    const o = this.#open;
    this.#open = undefined;
    if (o === undefined) return;
    this.completed++;
    this.#done.push({ mode: this.mode, fn: o.fn, steps: o.steps });
    if (this.#done.length > this.#keep) this.#done.shift();
  }
}

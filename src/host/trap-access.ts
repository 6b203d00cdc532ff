// Legacy mode, the pCPU worker's side: functions whose device model runs in the hypervisor (not on the card) are
// reached by trapping. A config or BAR access is a VM exit posted to the hypervisor thread over this worker's exit
// channel; reads wait for the hypervisor's reply, MMIO writes (doorbells) are posted. MSI-X arrives as an injected
// interrupt. Exits and injections are counted here, and the trap path's CPU is attributed to `hypervisor`.
import type { MessagePort } from 'node:worker_threads';
import type { ExitAccess, ExitMsg, ExitResume } from '../hypervisor/exit-messages.ts';
import type { FunctionAccess } from './vm-platform.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';

export interface TrapCounters { exits: number; injections: number }

export class TrappedFunctions implements FunctionAccess {
  readonly counters: TrapCounters = { exits: 0, injections: 0 };
  readonly #fns = new Set<number>();
  readonly #pending = new Map<number, (value: number) => void>();
  #nextId = 1;
  readonly #ledger = threadLedger();

  constructor(private readonly port: MessagePort, deliverMsi: (fn: number, address: number, data: number) => void) {
    port.on('message', (m: ExitResume) => {
      this.#ledger.enter('hypervisor');
      try {
        if (m.type === 'resume') {
          const resolve = this.#pending.get(m.id);
          this.#pending.delete(m.id);
          resolve?.(m.value);
        } else {
          this.counters.injections++;
          // The guest's interrupt handler runs inside: its time is the guest's.
          this.#ledger.run('guest', () => deliverMsi(m.fn, m.address, m.data));
        }
      } finally {
        this.#ledger.leave();
      }
    });
  }

  add(fn: number): void { this.#fns.add(fn); }
  remove(fn: number): void { this.#fns.delete(fn); }
  has(fn: number): boolean { return this.#fns.has(fn); }

  /** Route each access: trapped functions here, the others to `link` (the card). */
  over(link: FunctionAccess): FunctionAccess {
    return {
      configRead: (fn, off, size) => (this.has(fn) ? this.configRead(fn, off, size) : link.configRead(fn, off, size)),
      configWrite: (fn, off, size, v) => (this.has(fn) ? this.configWrite(fn, off, size, v) : link.configWrite(fn, off, size, v)),
      barRead: (fn, bar, off, size) => (this.has(fn) ? this.barRead(fn, bar, off, size) : link.barRead(fn, bar, off, size)),
      barWrite: (fn, bar, off, size, v) => (this.has(fn) ? this.barWrite(fn, bar, off, size, v) : link.barWrite(fn, bar, off, size, v)),
    };
  }

  configRead(fn: number, off: number, size: 1 | 2 | 4): Promise<number> { return this.#call(fn, 'cfg-read', 0, off, size, 0); }
  async configWrite(fn: number, off: number, size: 1 | 2 | 4, value: number): Promise<void> { await this.#call(fn, 'cfg-write', 0, off, size, value); }
  barRead(fn: number, bar: number, off: number, size: 1 | 2 | 4): Promise<number> { return this.#call(fn, 'mmio-read', bar, off, size, 0); }
  barWrite(fn: number, bar: number, off: number, size: 1 | 2 | 4, value: number): void {
    this.#post({ type: 'exit', id: 0, fn, access: 'mmio-write', bar, off, size, value, trapNs: process.hrtime.bigint() });
  }

  #call(fn: number, access: ExitAccess, bar: number, off: number, size: 1 | 2 | 4, value: number): Promise<number> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#post({ type: 'exit', id, fn, access, bar, off, size, value, trapNs: process.hrtime.bigint() });
    });
  }

  #post(m: ExitMsg): void {
    this.counters.exits++;
    this.#ledger.run('hypervisor', () => this.port.postMessage(m));
  }
}

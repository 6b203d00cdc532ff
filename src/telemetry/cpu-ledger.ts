// A thread's CPU, split into categories. The thread's total comes from the kernel (thread-cpu.ts); categories that
// share the thread are told apart by wall-clock regions (performance.now() deltas) around the code that does their
// work. At each settle() the thread's measured CPU since the last settle is split: every explicit region category
// gets the wall time spent inside its regions, and the thread's default category gets the rest. If the regions
// together took more wall time than the thread had CPU (the thread was preempted inside a region), they are scaled
// down to the measured CPU, so the categories always add up to what the kernel counted. docs/ARCHITECTURE.md §9.
import { threadCpuSec } from './thread-cpu.ts';

export interface LedgerSnapshot {
  /** Cumulative CPU seconds of this thread as the kernel counts it (0 without /proc). */
  threadSec: number;
  /** Cumulative CPU seconds per category; they add up to `threadSec`. */
  categories: Record<string, number>;
  /** Regions entered so far (each costs two performance.now() calls). */
  regions: number;
  /** False where /proc is missing: then nothing is measured and everything reads 0. */
  measured: boolean;
}

export class CpuLedger {
  #default: string;
  #current: string | undefined;
  #since = 0;
  readonly #stack: (string | undefined)[] = [];
  readonly #wallMs = new Map<string, number>();
  readonly #cpu = new Map<string, number>();
  #lastThreadSec: number | undefined;
  #threadSec = 0;
  #regions = 0;
  #measured = true;
  readonly #readCpu: () => number | undefined;

  constructor(defaultCategory: string, readCpu: () => number | undefined = () => threadCpuSec()) {
    this.#default = defaultCategory;
    this.#readCpu = readCpu;
    this.#lastThreadSec = readCpu();
  }

  get defaultCategory(): string { return this.#default; }

  /** Where time outside every region goes from the next settle on (settle first to close the old split). */
  setDefault(category: string): void {
    this.settle();
    this.#default = category;
  }

  enter(category: string): void {
    const now = performance.now();
    if (this.#current !== undefined) this.#add(this.#current, now - this.#since);
    this.#stack.push(this.#current);
    this.#current = category;
    this.#since = now;
    this.#regions++;
  }

  leave(): void {
    const now = performance.now();
    if (this.#current !== undefined) this.#add(this.#current, now - this.#since);
    this.#current = this.#stack.pop();
    this.#since = now;
  }

  /** Run synchronous `fn` inside a region of `category` (nested regions take their time from the outer one). */
  run<T>(category: string, fn: () => T): T {
    this.enter(category);
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  /** `fn` with every call inside a region of `category`. */
  wrap<A extends unknown[], R>(category: string, fn: (...args: A) => R): (...args: A) => R {
    return (...args) => this.run(category, () => fn(...args));
  }

  /** Read the thread's CPU and split what it used since the last settle. */
  settle(): LedgerSnapshot {
    const now = performance.now();
    if (this.#current !== undefined) {
      this.#add(this.#current, now - this.#since);
      this.#since = now;
    }
    const sec = this.#readCpu();
    if (sec === undefined || this.#lastThreadSec === undefined) {
      this.#measured = sec !== undefined;
      this.#lastThreadSec = sec;
      this.#wallMs.clear();
      return this.snapshot();
    }
    const delta = Math.max(0, sec - this.#lastThreadSec);
    this.#lastThreadSec = sec;
    this.#threadSec += delta;
    let regionSec = 0;
    for (const ms of this.#wallMs.values()) regionSec += ms / 1000;
    const scale = regionSec > delta && regionSec > 0 ? delta / regionSec : 1;
    for (const [cat, ms] of this.#wallMs) this.#credit(cat, (ms / 1000) * scale);
    this.#credit(this.#default, Math.max(0, delta - regionSec * scale));
    this.#wallMs.clear();
    return this.snapshot();
  }

  snapshot(): LedgerSnapshot {
    return { threadSec: this.#threadSec, categories: Object.fromEntries(this.#cpu), regions: this.#regions, measured: this.#measured };
  }

  #add(category: string, ms: number): void {
    this.#wallMs.set(category, (this.#wallMs.get(category) ?? 0) + ms);
  }

  #credit(category: string, sec: number): void {
    this.#cpu.set(category, (this.#cpu.get(category) ?? 0) + sec);
  }
}

let mine: CpuLedger | undefined;

/** This thread's ledger (modules are per thread, so each worker thread has its own). Default category 'other'
 *  until the thread's owner says what the thread is for. */
export function threadLedger(): CpuLedger {
  mine ??= new CpuLedger('other');
  return mine;
}

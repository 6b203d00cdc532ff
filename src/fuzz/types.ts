// What every fuzz target returns: how much it ran and what it found. A finding names the iteration and seed that
// reproduces it (`nitrolab fuzz --target T --seed S --iterations I+1`).
export interface Finding {
  target: string;
  seed: number;
  iteration: number;
  kind: 'crash' | 'invariant' | 'unavailable';
  message: string;
}

export interface FuzzResult {
  target: string;
  seed: number;
  iterations: number;
  /** Inputs actually delivered (a structure-aware iteration may send several). */
  inputs: number;
  findings: Finding[];
  /** Target-specific counters (status codes seen, drops by reason, errors by errno, …). */
  stats: Record<string, number>;
  ms: number;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Called for progress lines; silent by default. */
  log?: (line: string) => void;
}

export type FuzzTarget = (o: FuzzOptions) => Promise<FuzzResult>;

/** A result under construction. */
export class Tally {
  readonly findings: Finding[] = [];
  readonly stats: Record<string, number> = {};
  inputs = 0;
  private readonly t0 = Date.now();
  constructor(readonly target: string, readonly seed: number) {}
  count(key: string, by = 1): void { this.stats[key] = (this.stats[key] ?? 0) + by; }
  find(iteration: number, kind: Finding['kind'], message: string): void {
    // Keep the first few of each message: a systematic failure should not flood the report.
    if (this.findings.filter((f) => f.message === message).length >= 3) return;
    this.findings.push({ target: this.target, seed: this.seed, iteration, kind, message });
  }
  done(iterations: number): FuzzResult {
    return { target: this.target, seed: this.seed, iterations, inputs: this.inputs, findings: this.findings, stats: this.stats, ms: Date.now() - this.t0 };
  }
}

/** Run `fn`, turning a throw into a crash finding. */
export async function guarded(t: Tally, iteration: number, what: string, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    t.find(iteration, 'crash', `${what}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`);
  }
}

/** Collect uncaught exceptions and unhandled rejections while `fn` runs (an in-process card must not have any). */
export async function catchingUncaught<T>(t: Tally, fn: () => Promise<T>): Promise<T> {
  const onErr = (e: unknown) => t.find(-1, 'crash', `uncaught: ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`);
  process.on('uncaughtException', onErr);
  process.on('unhandledRejection', onErr);
  try {
    return await fn();
  } finally {
    process.off('uncaughtException', onErr);
    process.off('unhandledRejection', onErr);
  }
}

// One benchmark figure as bench/results/latest.json records it, and the helpers every benchmark uses: medians of
// several runs after a warm-up, ratios against a limit measured in the same run, progress lines.
export interface BenchRecord {
  name: string;
  value: number | null;
  unit: string;
  limit: { name: string; value: number } | null;
  ratio: number | null;
  transport: 'shm' | 'socket' | 'udp' | 'nbd' | 'none';
  mode: string;
  runs: number;
  min: number | null;
  max: number | null;
  /** Why there is no value, or what the figure includes. */
  note?: string;
}

export interface BenchContext {
  quick: boolean;
  /** Runs per figure (medians), after one warm-up. */
  runs: number;
  /** Length of one timed run (ms). */
  runMs: number;
  progress(line: string): void;
  /** Bound of the "instances one host holds" scan (bench/launch.ts; `nitrolab bench --max N`). */
  maxInstances?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** A record from several runs' values (median, min, max). */
export function fromRuns(
  name: string, unit: string, values: readonly number[], o: { transport: BenchRecord['transport']; mode: string; limit?: { name: string; value: number } | null; note?: string },
): BenchRecord {
  const value = median(values);
  const limit = o.limit ?? null;
  return {
    name, value: round(value), unit, limit: limit === null ? null : { name: limit.name, value: round(limit.value) },
    ratio: limit === null || !(limit.value > 0) ? null : Math.round((value / limit.value) * 1000) / 1000,
    transport: o.transport, mode: o.mode, runs: values.length, min: round(Math.min(...values)), max: round(Math.max(...values)),
    ...(o.note !== undefined ? { note: o.note } : {}),
  };
}

function round(v: number): number {
  if (!Number.isFinite(v)) return v;
  const a = Math.abs(v);
  return a >= 100 ? Math.round(v) : a >= 1 ? Math.round(v * 100) / 100 : Math.round(v * 10000) / 10000;
}

/** Run `fn` once to warm up, then `runs` times; returns the timed results. */
export async function repeat<T>(ctx: BenchContext, what: string, fn: () => Promise<T>): Promise<T[]> {
  await fn();
  const out: T[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    out.push(await fn());
    ctx.progress(`${what}: run ${i + 1}/${ctx.runs}`);
  }
  return out;
}

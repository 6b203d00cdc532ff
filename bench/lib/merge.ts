// `nitrolab bench --merge`: a partial run (e.g. `--only push`) replaces only the figures it measured in an existing
// latest.json and keeps the rest; the file's meta says which suites were merged, when, and at what load.
import { readFile } from 'node:fs/promises';
import type { BenchRecord } from './record.ts';

export interface BenchMeta {
  generatedAt: string; node: string; cpus: number; quick: boolean; loadavg1: { min: number; max: number; samples?: number[] };
  runs: number; runMs: number; seconds: number;
  merged?: { suites: string[]; generatedAt: string; quick: boolean; loadavg1: { min: number; max: number } }[];
}

export async function mergeResults(path: string, meta: BenchMeta, records: BenchRecord[], suites: string[]): Promise<{ meta: BenchMeta; records: BenchRecord[] }> {
  let old: { meta: BenchMeta; records: BenchRecord[] };
  try {
    old = JSON.parse(await readFile(path, 'utf8')) as { meta: BenchMeta; records: BenchRecord[] };
  } catch {
    return { meta, records };
  }
  const key = (r: BenchRecord): string => `${r.name}\u0000${r.transport}`;
  const fresh = new Set(records.map(key));
  // A suite that ran now also retires its old placeholders (value null, "not measured yet") under other names.
  const retired = (r: BenchRecord): boolean => r.value === null && suites.some((s) => r.name.startsWith(`${s}.`));
  const kept = old.records.filter((r) => !fresh.has(key(r)) && !retired(r));
  const merged = [...(old.meta.merged ?? []), { suites, generatedAt: meta.generatedAt, quick: meta.quick, loadavg1: { min: meta.loadavg1.min, max: meta.loadavg1.max } }];
  return { meta: { ...old.meta, merged }, records: [...kept, ...records] };
}

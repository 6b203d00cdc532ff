// `nitrolab bench` (issue 8): runs every benchmark in bench/, each against the physical limit measured in the same
// run, and writes bench/results/latest.json (one record per figure) and bench/results/latest.md.
//   --quick      fewer runs and instances (under a minute of measuring on an idle machine)
//   --only LIST  comma list of: limits, nvme, push, nbd, ebs, net, launch, compute
//   --out DIR    results directory (default bench/results)
//   --merge      keep the other figures of DIR/latest.json and replace only those this run measured (a partial run)
//   --max N      bound of the "instances one host holds" scan (default 600; --quick 20)
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.ts';

const SUITES = ['limits', 'nvme', 'push', 'nbd', 'ebs', 'net', 'launch', 'compute'] as const;
const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results', import.meta.url));

export async function runBench(argv: string[]): Promise<number> {
  let values: { quick?: boolean; only?: string; out?: string; merge?: boolean; max?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, merge: { type: 'boolean' }, max: { type: 'string' } } }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const only = new Set((values.only ?? SUITES.join(',')).split(',').map((s) => s.trim()));
  for (const s of only) if (!(SUITES as readonly string[]).includes(s)) throw new UsageError(`unknown suite "${s}" (${SUITES.join(', ')})`);
  const quick = values.quick === true;
  const maxInstances = values.max === undefined ? (quick ? 20 : 600) : Number(values.max);
  if (!Number.isInteger(maxInstances) || maxInstances < 20) throw new UsageError(`--max ${values.max} is not an integer ≥ 20`);
  const t0 = Date.now();
  const { runLimits } = await import('../../bench/limits.ts');
  const { runNvme } = await import('../../bench/nvme.ts');
  const { runPush } = await import('../../bench/push.ts');
  const { runNbd } = await import('../../bench/lib/nbd-records.ts');
  const { runEbs } = await import('../../bench/ebs.ts');
  const { runNet } = await import('../../bench/net.ts');
  const { runLaunch } = await import('../../bench/launch.ts');
  const { runCompute } = await import('../../bench/compute.ts');
  const { renderMarkdown } = await import('../../bench/lib/report.ts');
  const ctx = {
    quick, runs: quick ? 1 : 5, runMs: quick ? 250 : 2000, maxInstances,
    progress: (line: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`),
  };
  const load: number[] = [loadavg()[0] ?? 0];
  const records = [];
  // The limits are always measured: every other figure is quoted against them.
  const { records: limitRecords, limits } = await runLimits(ctx);
  if (only.has('limits')) records.push(...limitRecords);
  if (only.has('nvme')) { load.push(loadavg()[0] ?? 0); records.push(...await runNvme(ctx, limits)); }
  if (only.has('push')) { load.push(loadavg()[0] ?? 0); records.push(...await runPush(ctx)); }
  if (only.has('nbd')) { load.push(loadavg()[0] ?? 0); records.push(...await runNbd(ctx)); }
  if (only.has('ebs')) { load.push(loadavg()[0] ?? 0); records.push(...await runEbs(ctx)); }
  if (only.has('net')) { load.push(loadavg()[0] ?? 0); records.push(...await runNet(ctx, limits)); }
  if (only.has('launch')) {
    for (const t of quick ? (['socket'] as const) : (['socket', 'shm'] as const)) { load.push(loadavg()[0] ?? 0); records.push(...await runLaunch(ctx, t)); }
  }
  if (only.has('compute')) { load.push(loadavg()[0] ?? 0); records.push(...await runCompute(ctx)); }
  load.push(loadavg()[0] ?? 0);
  const meta = {
    generatedAt: new Date().toISOString(), node: process.version, cpus: cpus().length, quick,
    loadavg1: { min: Math.min(...load), max: Math.max(...load), samples: load.map((l) => Math.round(l * 100) / 100) },
    runs: ctx.runs, runMs: ctx.runMs, seconds: Math.round((Date.now() - t0) / 1000),
  };
  const out = values.out ?? DEFAULT_OUT;
  await mkdir(out, { recursive: true });
  const { mergeResults } = await import('../../bench/lib/merge.ts');
  const written = values.merge === true ? await mergeResults(join(out, 'latest.json'), meta, records, [...only]) : { meta, records };
  await writeFile(join(out, 'latest.json'), JSON.stringify(written, null, 2) + '\n');
  await writeFile(join(out, 'latest.md'), renderMarkdown(written.meta, written.records));
  ctx.progress(`wrote ${join(out, 'latest.json')} and latest.md (${records.length} figures)`);
  return 0;
}

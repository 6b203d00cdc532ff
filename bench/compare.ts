// Benchmark: the `nitrolab compare` table at the load levels of bench/compute.ts (light and heavy: paced fio beside a
// cpu-bench guest; io-only: unpaced fio alone, capped by the volume's gp3 limit in both modes) plus saturated (unpaced
// fio beside cpu-bench, where each mode runs as fast as it can and the per-I/O row is the fair figure). Writes bench/results/compare-<level>.json and .md, so
// docs/reclaimed-compute.md can plot reclaimed cores against load.
//   node --import tsx bench/compare.ts [--quick] [--levels light,heavy,io-only,saturated]
import { mkdirSync, writeFileSync } from 'node:fs';
import { compare, toMarkdown, type CompareOptions } from '../src/cli/compare.ts';
import { COMPUTE_LEVELS } from './compute.ts';

const quick = process.argv.includes('--quick');
const levelsArg = process.argv[process.argv.indexOf('--levels') + 1];
const LEVELS: Record<string, Partial<CompareOptions>> = { ...COMPUTE_LEVELS, saturated: { ioInstances: 1, rateIops: 0, cpuBench: true } };
const wanted = process.argv.includes('--levels') && levelsArg ? levelsArg.split(',') : Object.keys(LEVELS);
const out = new URL('./results/', import.meta.url);
mkdirSync(out, { recursive: true });
const rows: string[] = ['| level | legacy I/O-virt cores | offload | reclaimed cores | % of host | host µs per I/O legacy / offload | cpu-bench offload/legacy | IOPS legacy / offload |', '|---|---:|---:|---:|---:|---:|---:|---:|'];
for (const level of wanted) {
  const o: CompareOptions = { seconds: quick ? 8 : 20, ioInstances: 1, iodepth: 16, rateIops: 0, rw: 'randwrite', cpuBench: true, link: 'socket', pin: true, ...LEVELS[level] };
  const r = await compare(o, (s) => process.stderr.write(`[${level}] ${s}\n`));
  writeFileSync(new URL(`compare-${level}.json`, out), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(new URL(`compare-${level}.md`, out), toMarkdown(r));
  rows.push(`| ${level} | ${r.legacy.ioVirtCores.toFixed(3)} | ${r.offload.ioVirtCores.toFixed(3)} | ${r.reclaimedCores.toFixed(3)} | ${r.reclaimedPercent.toFixed(1)} | ` +
    `${r.legacy.hostUsPerIo?.toFixed(1) ?? 'n/a'} / ${r.offload.hostUsPerIo?.toFixed(1) ?? 'n/a'} | ` +
    `${r.cpuBenchRatio?.toFixed(3) ?? 'n/a'} | ${r.legacy.iops.toFixed(0)} / ${r.offload.iops.toFixed(0)} |`);
}
process.stdout.write(rows.join('\n') + '\n');

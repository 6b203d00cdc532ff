// Benchmark: the `nitrolab compare` table at two I/O load levels — light (1 instance running fio) and heavy
// (3 instances) — each beside one cpu-bench instance, legacy then offload. Writes bench/results/compare-<level>.json
// and .md, so docs/reclaimed-compute.md can plot reclaimed cores against load.
//   node --import tsx bench/compare.ts [--quick] [--levels light,heavy]
import { mkdirSync, writeFileSync } from 'node:fs';
import { compare, toMarkdown, type CompareOptions } from '../src/cli/compare.ts';

const quick = process.argv.includes('--quick');
const levelsArg = process.argv[process.argv.indexOf('--levels') + 1];
const LEVELS: Record<string, Partial<CompareOptions>> = { light: { ioInstances: 1 }, heavy: { ioInstances: 3 } };
const wanted = process.argv.includes('--levels') && levelsArg ? levelsArg.split(',') : Object.keys(LEVELS);
const out = new URL('./results/', import.meta.url);
mkdirSync(out, { recursive: true });
const rows: string[] = ['| level | legacy I/O-virt cores | offload | reclaimed cores | % of host | cpu-bench offload/legacy | IOPS legacy / offload |', '|---|---:|---:|---:|---:|---:|---:|'];
for (const level of wanted) {
  const o: CompareOptions = { seconds: quick ? 8 : 20, ioInstances: 1, iodepth: 16, rw: 'randwrite', cpuBench: true, link: 'socket', pin: true, ...LEVELS[level] };
  const r = await compare(o, (s) => process.stderr.write(`[${level}] ${s}\n`));
  writeFileSync(new URL(`compare-${level}.json`, out), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(new URL(`compare-${level}.md`, out), toMarkdown(r));
  rows.push(`| ${level} | ${r.legacy.ioVirtCores.toFixed(3)} | ${r.offload.ioVirtCores.toFixed(3)} | ${r.reclaimedCores.toFixed(3)} | ${r.reclaimedPercent.toFixed(1)} | ` +
    `${r.cpuBenchRatio?.toFixed(3) ?? 'n/a'} | ${r.legacy.iops.toFixed(0)} / ${r.offload.iops.toFixed(0)} |`);
}
process.stdout.write(rows.join('\n') + '\n');

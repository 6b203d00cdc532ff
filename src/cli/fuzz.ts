// `nitrolab fuzz`: run one seeded fuzz target (or all) for N iterations and report findings; exit 1 if any.
// A finding names its target, seed and iteration, so `--seed S --iterations I+1` replays it.
import { writeFileSync } from 'node:fs';
import { intFlag, parse, UsageError } from './args.ts';
import { TARGETS } from '../fuzz/index.ts';
import type { FuzzResult } from '../fuzz/types.ts';

export async function runFuzz(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    target: { type: 'string' },
    iterations: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const target = values.target ?? 'all';
  const names = target === 'all' ? Object.keys(TARGETS) : target.split(',');
  for (const n of names) if (!(n in TARGETS)) throw new UsageError(`--target ${n} is not one of ${Object.keys(TARGETS).join(', ')}, all`);
  const iterations = intFlag('iterations', values.iterations, 1000, 1, 100_000_000);
  const seed = intFlag('seed', values.seed, 1, 0, 0xffff_ffff);
  const say = (s: string) => { if (!values.quiet) process.stdout.write(s + '\n'); };
  const results: FuzzResult[] = [];
  for (const name of names) {
    const run = await TARGETS[name]!();
    say(`fuzz ${name}: ${iterations} iterations, seed ${seed}`);
    const r = await run({ iterations, seed, log: (l) => { if (!values.quiet) process.stderr.write(l + '\n'); } });
    results.push(r);
    say(`fuzz ${name}: ${r.iterations} iterations, ${r.inputs} inputs, ${r.findings.length} findings, ${r.ms} ms`);
    for (const f of r.findings) say(`  FINDING ${f.kind} at iteration ${f.iteration} (seed ${f.seed}): ${f.message}`);
    const top = Object.entries(r.stats).sort((a, b) => b[1] - a[1]).slice(0, 12);
    say(`  ${top.map(([k, v]) => `${k}=${v}`).join('  ')}`);
  }
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
  return results.some((r) => r.findings.length > 0) ? 1 : 0;
}

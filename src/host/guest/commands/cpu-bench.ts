// cpu-bench: a CPU-bound loop reporting ops/s, to compare guest compute left over in legacy vs offload mode. Uses the
// platform's cpuWork kernel when there is one; yields the vCPU between chunks so other guests keep running.
import type { ShellCommand } from '../shell.ts';
import { longOptions, parseDurationMs } from './util.ts';

const CHUNK = 100_000;

/** A portable integer-mixing loop (the same work as most platforms' cpuWork). */
export function builtinWork(iterations: number): number {
  let x = 0x9e3779b9;
  for (let i = 0; i < iterations; i++) x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i;
  return x >>> 0;
}

export const cpuBench: ShellCommand = {
  name: 'cpu-bench',
  summary: 'CPU-bound loop: cpu-bench [--seconds=N | --iterations=N]',
  async run({ args, k, out, err, signal }) {
    const { opts } = longOptions(args);
    const iterations = opts.has('iterations') ? Number(opts.get('iterations')) : undefined;
    const ms = opts.has('seconds') ? parseDurationMs(opts.get('seconds') ?? '') : iterations === undefined ? 1000 : undefined;
    if ((iterations !== undefined && !(iterations > 0)) || (ms !== undefined && !(ms > 0))) {
      err('cpu-bench: bad --iterations or --seconds\n');
      return 1;
    }
    const p = k.platform;
    const work = p.cpuWork ? (n: number): number => (p.cpuWork as (n: number) => number)(n) : builtinWork;
    const t0 = p.nowNs();
    const end = ms !== undefined ? t0 + BigInt(Math.round(ms * 1e6)) : undefined;
    let ops = 0;
    let check = 0;
    while (!signal.aborted) {
      if (iterations !== undefined && ops >= iterations) break;
      if (end !== undefined && p.nowNs() >= end) break;
      const n = iterations !== undefined ? Math.min(CHUNK, iterations - ops) : CHUNK;
      check = (check + work(n)) >>> 0;
      ops += n;
      await p.yield();
    }
    const secs = Number(p.nowNs() - t0) / 1e9;
    out(`cpu-bench: ops=${ops} elapsed=${secs.toFixed(3)}s ops_per_sec=${Math.round(secs > 0 ? ops / secs : 0)} checksum=${(check >>> 0).toString(16)}\n`);
    return signal.aborted ? 130 : 0;
  },
};

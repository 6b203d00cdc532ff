// Reclaimed compute as benchmark figures (issue 8, figure "reclaimed compute"; issue 6): `nitrolab compare` runs at
// paced load levels so both modes do the same I/O, and the host cores each mode spends on I/O virtualization
// become records. The limit of "reclaimed cores" is what legacy mode spends — offload cannot give back more — so
// the ratio is the share of the legacy cost that offload removed.
import { compare, type CompareOptions, type CompareReport } from '../src/cli/compare.ts';
import { fromRuns, median, type BenchContext, type BenchRecord } from './lib/record.ts';

/** Load levels. light and heavy are paced with fio's rate_iops beside a CPU-bound guest (cpu-bench), so both modes do
 *  the same I/O; io-only is one unpaced fio with nothing beside it, where the volume's gp3 limit (3,000 IOPS) caps both
 *  modes at the same rate. bench/compare.ts runs the same levels plus "saturated" (unpaced beside cpu-bench). */
export const COMPUTE_LEVELS: Record<'light' | 'heavy' | 'io-only', Pick<CompareOptions, 'ioInstances' | 'rateIops' | 'cpuBench'>> = {
  light: { ioInstances: 1, rateIops: 200, cpuBench: true },
  heavy: { ioInstances: 3, rateIops: 200, cpuBench: true },
  'io-only': { ioInstances: 1, rateIops: 0, cpuBench: false },
};

export async function runCompute(ctx: BenchContext): Promise<BenchRecord[]> {
  const levels = ctx.quick ? (['light'] as const) : (['light', 'heavy', 'io-only'] as const);
  const runs = ctx.quick ? 1 : Math.min(ctx.runs, 3);
  const out: BenchRecord[] = [];
  for (const level of levels) {
    const reports: CompareReport[] = [];
    for (let i = 0; i < runs; i++) {
      const o: CompareOptions = { seconds: ctx.quick ? 6 : 12, iodepth: 16, rw: 'randwrite', link: 'socket', pin: true, ...COMPUTE_LEVELS[level] };
      reports.push(await compare(o, (s) => ctx.progress(`compute ${level}: ${s}`)));
      ctx.progress(`compute ${level}: run ${i + 1}/${runs}`);
    }
    const opts = { transport: 'socket' as const, mode: 'legacy-vs-offload' };
    const legacyCost = median(reports.map((r) => r.legacy.ioVirtCores));
    const L = COMPUTE_LEVELS[level];
    const paced = `${L.ioInstances} × fio randwrite 4 KiB ${L.rateIops > 0 ? `at ${L.rateIops} IOPS` : 'unpaced (gp3: 3,000 IOPS)'}${L.cpuBench ? ' + cpu-bench' : ''}`;
    const pinned = reports.every((r) => r.legacy.pinning.pinned && r.offload.pinning.pinned) ? 'host and card pinned' : 'not pinned';
    out.push(
      fromRuns(`compute.reclaimed.host-cores.${level}`, 'cores', reports.map((r) => r.reclaimedCores),
        { ...opts, limit: { name: `compute.legacy.io-virt-cores.${level}`, value: legacyCost }, note: `${paced}; ${pinned}` }),
      fromRuns(`compute.reclaimed.percent-of-host.${level}`, '%', reports.map((r) => r.reclaimedPercent), { ...opts, note: `of ${reports[0]?.hostCores ?? '?'} host core(s)` }),
      fromRuns(`compute.host-us-per-io.legacy.${level}`, 'µs', reports.map((r) => r.legacy.hostUsPerIo ?? NaN), { transport: 'socket', mode: 'legacy' }),
      fromRuns(`compute.host-us-per-io.offload.${level}`, 'µs', reports.map((r) => r.offload.hostUsPerIo ?? NaN), { transport: 'socket', mode: 'offload' }),
      ...(L.cpuBench ? [fromRuns(`compute.guest-cpu-bench-ratio.${level}`, 'ratio', reports.map((r) => r.cpuBenchRatio ?? NaN), { ...opts, note: 'cpu-bench ops/s offload ÷ legacy' })] : []),
      fromRuns(`compute.io-ratio.${level}`, 'ratio', reports.map((r) => r.ioRatio), { ...opts, note: 'device IOPS offload ÷ legacy (1 = same work)' }),
    );
  }
  return out;
}

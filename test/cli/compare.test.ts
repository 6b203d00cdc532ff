// `nitrolab compare` options and report text. (The full legacy-then-offload run is test/e2e/legacy-vs-offload.test.ts
// and bench/compare.ts; here, only what the two modes' figures turn into.)
import t from 'tap';
import { parseCompareArgs, toMarkdown, type CompareReport, type ModeResult } from '../../src/cli/compare.ts';

t.test('options: defaults, --quick, --rate-iops and bad values', async (t) => {
  t.match(parseCompareArgs([]), { seconds: 20, iodepth: 16, rateIops: 0, rw: 'randwrite', cpuBench: true, link: 'socket', pin: true });
  t.match(parseCompareArgs(['--quick', '--rate-iops', '300', '--io-instances', '3']), { seconds: 8, rateIops: 300, ioInstances: 3 });
  t.throws(() => parseCompareArgs(['--rate-iops', 'lots']), /--rate-iops lots is not an integer/);
  t.throws(() => parseCompareArgs(['--rw', 'sideways']), /rw/);
});

function mode(m: 'legacy' | 'offload', ioVirt: number, iops: number): ModeResult {
  return {
    mode: m, windowSec: 6, host: { guest: 0.5, hypervisor: ioVirt / 2, deviceEmulation: ioVirt / 2, fabric: 0.02 }, card: { nvme: 0.1, net: 0, mgmt: 0.01, fabric: 0.05 },
    ioVirtCores: ioVirt, ioVirtCoresInclFabric: ioVirt + 0.02, hostUsPerIo: iops > 0 ? (ioVirt * 1e6) / iops : null, iops, writeMBps: (iops * 4096) / 1e6, readMBps: 0,
    exitsPerSec: m === 'legacy' ? iops * 1.4 : 0, interruptsPerSec: iops, fioIops: Math.round(iops), cpuBenchOpsPerSec: 1000, pinning: { pinned: false, reason: 'test' },
  };
}

function report(legacy: ModeResult, offload: ModeResult, rateIops: number): CompareReport {
  return {
    at: '2026-11-26T00:00:00Z', options: { seconds: 8, ioInstances: 1, iodepth: 16, rateIops, rw: 'randwrite', cpuBench: true, link: 'socket', pin: false },
    machineCpus: 2, hostCores: 2, legacy, offload, reclaimedCores: legacy.ioVirtCores - offload.ioVirtCores,
    reclaimedPercent: (100 * (legacy.ioVirtCores - offload.ioVirtCores)) / 2, reclaimedCoresInclFabric: legacy.ioVirtCoresInclFabric - offload.ioVirtCoresInclFabric,
    reclaimedUsPerIo: (legacy.hostUsPerIo ?? 0) - (offload.hostUsPerIo ?? 0), cpuBenchRatio: 1, ioRatio: offload.iops / legacy.iops,
  };
}

t.test('equal work: the table shows per-I/O host CPU and no warning', async (t) => {
  const md = toMarkdown(report(mode('legacy', 0.2, 500), mode('offload', 0.01, 498), 500));
  t.match(md, /rate_iops 500 each/);
  t.match(md, /\| … per I\/O \(µs of host CPU\) \| 400\.00 \| 20\.08 \|/);
  t.match(md, /\*\*Reclaimed: 0\.190 host cores = 9\.50 % of the host's 2 core\(s\)\*\*/);
  t.notMatch(md, /did different amounts of I\/O/);
});

t.test('unequal work: the report says so and points at the per-I/O figure', async (t) => {
  const md = toMarkdown(report(mode('legacy', 0.2, 2795), mode('offload', 0.03, 666), 0));
  t.match(md, /unpaced/);
  t.match(md, /did different amounts of I\/O \(offload\/legacy 0\.238\)/);
  t.match(md, /µs of host CPU saved per I\/O/);
  t.match(md, /--rate-iops/);
});

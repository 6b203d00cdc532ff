import t from 'tap';
import { computeReclaim, ioVirtCores } from '../../../src/panel/server/reclaim.ts';
import type { HostMetrics } from '../../../src/panel/server/wire.ts';

function host(hostId: string, mode: 'offload' | 'legacy', hv: number, de: number, iops: number): HostMetrics {
  return {
    hostId, mode, link: 'socket',
    cpu: { host: { guest: 1, hypervisor: hv, deviceEmulation: de, fabric: 0.3, total: 1 + hv + de + 0.3 }, card: { nvme: 0.4, net: 0, mgmt: 0.1, fabric: 0.1, total: 0.6 } },
    io: { iops, readMBps: 0, writeMBps: 0, pps: 0, gbps: 0 }, exitsPerSec: mode === 'legacy' ? iops : 0, interruptsPerSec: iops,
    queueDepth: 16, latencyUs: { p50: 30, p99: 90 }, instances: 1,
  };
}

t.test('I/O virtualization is hypervisor plus device emulation; fabric is not counted', async (t) => {
  t.equal(ioVirtCores(host('h', 'legacy', 0.25, 0.5, 1)), 0.75);
});

t.test('with both modes running, reclaimed = legacy − offload, as % of the machine and of legacy', async (t) => {
  const r = computeReclaim([host('host-0', 'offload', 0, 0.05, 20_000), host('host-1', 'legacy', 0.5, 1.45, 19_000)], 8);
  if (r.kind !== 'both') throw new Error(r.kind);
  t.equal(r.reclaimedCores.toFixed(2), '1.90');
  t.equal(r.reclaimedPercentOfMachine.toFixed(2), '23.75');
  t.equal(r.reclaimedPercentOfLegacy.toFixed(1), '97.4');
  t.equal(r.comparableLoad, true, '19k vs 20k IOPS is a comparable load');
  t.same(r.legacy.hosts, ['host-1']);
  t.equal(r.legacy.exitsPerSec, 19_000);
  t.equal(r.offload.hostFabricCores, 0.3, 'fabric reported beside, not inside, the I/O cost');
});

t.test('different I/O rates are flagged as not comparable', async (t) => {
  const r = computeReclaim([host('a', 'offload', 0, 0, 40_000), host('b', 'legacy', 0.5, 1, 10_000)], 4);
  t.equal(r.kind === 'both' && r.comparableLoad, false);
});

t.test('several hosts per mode are averaged per host', async (t) => {
  const r = computeReclaim([host('a', 'legacy', 1, 1, 1), host('b', 'legacy', 0, 0, 1), host('c', 'offload', 0, 0, 1)], 4);
  t.equal(r.kind === 'both' && r.legacy.ioVirtCores, 1);
});

t.test('with one mode only, the headline says which is measured and does not invent the other', async (t) => {
  t.same(computeReclaim([host('a', 'offload', 0, 0.01, 5)], 8).kind, 'offload-only');
  const l = computeReclaim([host('a', 'legacy', 0.2, 0.3, 5)], 8);
  t.equal(l.kind, 'legacy-only');
  t.notOk('reclaimedCores' in l);
  t.same(computeReclaim(undefined, 8), { kind: 'none' });
  t.same(computeReclaim([], 8), { kind: 'none' });
});

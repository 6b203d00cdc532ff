// Whole system, legacy vs offload: the same fio workload on `nitrolab up --mode legacy` and `--mode offload`. In
// legacy mode the NVMe model runs in the hypervisor: exits are counted, device-emulation CPU is measured, the sampled
// transaction shows the exit and the injection. In offload mode exits/s are zero and host device-emulation CPU is
// near zero (the card's nvme category carries the work).
import t from 'tap';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';

interface HostM {
  hostId: string; mode: string;
  cpu: { host: Record<string, number>; card: Record<string, number> };
  io: { iops: number }; exitsPerSec: number; interruptsPerSec: number;
  cumulative: { ios: number; exits: number; cpuSec: { host: Record<string, number>; card: Record<string, number> } };
}

const get = <T>(url: string, path: string) => api<T>(url, 'GET', path);

for (const mode of ['legacy', 'offload'] as const) {
  t.test(`fio on an EBS volume in ${mode} mode: exits, device-emulation CPU and traces as the mode says`, async (t) => {
    const nl = await startNitrolab(['--mode', mode]);
    t.teardown(() => nl.stop());
    const res = await api(nl.url, 'POST', '/v1/instances', {
      instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }],
      userData: 'fio --name=e2e --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=2m --runtime=60s --time_based',
    });
    t.equal(res.status, 201, 'launched');
    // Wait until the device has served a good number of I/Os and the card has sampled twice since.
    const start = await until('I/O under way', async () => {
      const m = await get<{ hosts: HostM[] }>(nl.url, '/v1/metrics');
      const h = m.body.hosts?.[0];
      return h && h.cumulative.ios > 2000 ? h : undefined;
    }, 90_000);
    const later = await until('a later sample', async () => {
      const m = await get<{ hosts: HostM[] }>(nl.url, '/v1/metrics');
      const h = m.body.hosts?.[0];
      return h && h.cumulative.ios > start.cumulative.ios + 2000 ? h : undefined;
    }, 90_000);
    t.equal(later.mode, mode);
    const d = (side: 'host' | 'card', k: string) => (later.cumulative.cpuSec[side][k] ?? 0) - (start.cumulative.cpuSec[side][k] ?? 0);
    const exits = later.cumulative.exits - start.cumulative.exits;
    const ios = later.cumulative.ios - start.cumulative.ios;
    t.ok(ios > 2000, `${ios} I/Os in the window`);
    if (mode === 'legacy') {
      t.ok(exits >= ios, `every doorbell is a VM exit: ${exits} exits for ${ios} I/Os`);
      t.ok(d('host', 'deviceEmulation') > 0.02, `host device-emulation CPU is measured: ${d('host', 'deviceEmulation')} s`);
      t.ok(d('host', 'deviceEmulation') > 5 * d('card', 'nvme'), `the card's nvme CPU is small beside it: ${d('card', 'nvme')} s`);
    } else {
      t.equal(exits, 0, 'no VM exits in offload mode');
      t.equal(later.exitsPerSec, 0, 'exits/s is zero');
      t.ok(d('host', 'deviceEmulation') < 0.2 * d('card', 'nvme'), `host device-emulation CPU is near zero: ${d('host', 'deviceEmulation')} s (card nvme ${d('card', 'nvme')} s)`);
      t.ok(d('card', 'nvme') + d('card', 'fabric') > 0.02, 'the card carries the device work');
    }
    const prom = await get<string>(nl.url, '/metrics');
    t.match(prom.body, /nitrolab_host_exits_per_second\{host="host-0",mode="/, 'Prometheus has the per-host gauges');
    const tr = await until('a sampled transaction', async () => {
      const r = await get<{ transactions: Array<{ mode: string; steps: Array<{ kind: string }> }> }>(nl.url, '/v1/hosts/host-0/traces');
      return r.body.transactions?.[0];
    }, 30_000);
    t.equal(tr.mode, mode);
    const kinds = tr.steps.map((s) => s.kind);
    t.ok(kinds.includes('doorbell') && kinds.includes('completion') && kinds.includes('msix'), `steps: ${kinds.join(' ')}`);
    if (mode === 'legacy') t.ok(kinds.includes('exit') && kinds.includes('inject'), 'legacy: the exit and the injection are on the path');
    else t.notOk(kinds.includes('exit') || kinds.includes('inject'), 'offload: the hypervisor is not on the path');
  });
}

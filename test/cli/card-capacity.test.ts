// The card capacity override (src/nitro-card/capacity.ts, src/cli/capacity-flags.ts): the default stays 48 vCPUs per
// host core and 8× host RAM, `up --card-vcpus/--card-mem-mib` validate and replace it, and a card started with them
// reports the new figures in GET /v1/hosts and refuses a launch beyond them with 503 InsufficientInstanceCapacity.
import t from 'tap';
import { cpus, totalmem } from 'node:os';
import { cardCapacity, MEM_OVERCOMMIT, VCPUS_PER_CORE } from '../../src/nitro-card/capacity.ts';
import { parseUpArgs } from '../../src/cli/up.ts';
import { capacityFlags } from '../../src/cli/capacity-flags.ts';
import { UsageError } from '../../src/cli/args.ts';
import { api, startNitrolab } from '../helpers/nitrolab-up.ts';

interface Host { hostId: string; card?: { capacity: { vcpus: number; memMiB: number }; usage: { instances: number; vcpus: number; memMiB: number } } }

t.test('the default capacity is unchanged; each figure can be replaced alone', async (t) => {
  const dflt = { vcpus: cpus().length * VCPUS_PER_CORE, memMiB: Math.floor(totalmem() / 1048576) * MEM_OVERCOMMIT };
  t.same(cardCapacity(), dflt);
  t.same(cardCapacity({ vcpus: 600 }), { ...dflt, vcpus: 600 });
  t.same(capacityFlags(undefined, '4096'), { ...dflt, memMiB: 4096 });
  t.same(capacityFlags(undefined, undefined), dflt);
});

t.test('up: --card-vcpus and --card-mem-mib are validated, absent by default', async (t) => {
  const d = parseUpArgs([]);
  t.equal(d.cardVcpus, undefined);
  t.equal(d.cardMemMiB, undefined);
  const o = parseUpArgs(['--card-vcpus', '600', '--card-mem-mib', '81920']);
  t.same([o.cardVcpus, o.cardMemMiB], [600, 81920]);
  for (const bad of [['--card-vcpus', '0'], ['--card-vcpus', '1.5'], ['--card-mem-mib', '-1'], ['--card-vcpus', 'many']]) {
    t.throws(() => parseUpArgs(bad), UsageError, bad.join(' '));
  }
});

for (const link of ['socket', 'shm'] as const) {
  t.test(`${link}: the card advertises the given capacity and refuses a launch beyond it`, async (t) => {
    const nl = await startNitrolab(['--link', link, '--card-vcpus', '2', '--card-mem-mib', '1024', '--guest-mem-mib', '4', '--log-level', 'warn'], 90_000);
    t.teardown(() => nl.stop());
    const hosts = await api<{ hosts: Host[] }>(nl.url, 'GET', '/v1/hosts');
    t.equal(hosts.status, 200);
    t.same(hosts.body.hosts[0]?.card?.capacity, { vcpus: 2, memMiB: 1024 }, 'GET /v1/hosts reports the override');
    // emu.nano is 1 vCPU and 128 MiB: two fit in 2 vCPUs, a third does not.
    const two = await api<{ instances: { instanceId: string }[] }>(nl.url, 'POST', '/v1/instances', { instanceType: 'emu.nano', count: 2 });
    t.equal(two.status, 201, JSON.stringify(two.body));
    t.equal(two.body.instances?.length, 2);
    const third = await api<{ code: string; message: string }>(nl.url, 'POST', '/v1/instances', { instanceType: 'emu.nano' });
    t.equal(third.status, 503, JSON.stringify(third.body));
    t.equal(third.body.code, 'InsufficientInstanceCapacity');
    const after = await api<{ hosts: Host[] }>(nl.url, 'GET', '/v1/hosts');
    t.equal(after.body.hosts[0]?.card?.usage.vcpus, 2, 'the refused launch took nothing');
  });
}

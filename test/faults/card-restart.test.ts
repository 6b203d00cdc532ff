// Card crash and restart (issue 9 §1, supervision part): kill -9 the card process while a guest does I/O. `nitrolab
// up` reports the death, restarts the card with backoff on the same management port (so the control plane's endpoint
// and token stay valid), restarts the host once the card is back (a host exits when its card link drops), and
// launches work again: a new instance's fio write-verify completes with zero verify errors. What a card restart
// does not yet preserve (the instances that were running) is documented in docs/reliability.md.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';

interface Instance { instanceId: string; state: { code: number; name: string } }

function childPid(parent: number, pattern: RegExp): number | undefined {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], { encoding: 'utf8' });
  for (const l of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(l);
    if (m && pattern.test(m[2] ?? '')) return Number(m[1]);
  }
  return undefined;
}

async function launchFio(url: string, size: string): Promise<Instance> {
  const r = await api<{ instances: Instance[] }>(url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }],
    userData: `fio --name=w --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=${size} --verify=crc32c`,
  });
  if (r.status !== 201) throw new Error(`launch refused: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.instances[0]!;
}

t.test('kill -9 of the card during guest I/O: up restarts card and host with backoff, and new work completes', async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const pid = nl.proc.pid!;
  const busy = await launchFio(nl.url, '64m');
  await until('guest I/O under way', async () => {
    const r = await api<string>(nl.url, 'GET', `/v1/instances/${busy.instanceId}/console`);
    return typeof r.body === 'string' && /fio|nvme0n1/.test(r.body) ? true : undefined;
  }, 60_000);
  const card = childPid(pid, / card --listen /);
  t.ok(card, 'a card process runs');
  process.kill(card!, 'SIGKILL');

  await until('card death reported', async () => (/card host-0 died \(exit code null, signal SIGKILL\)/.test(nl.output()) ? true : undefined), 20_000);
  await until('card restart announced', async () => (/card host-0 restarting in \d+ ms \(attempt 1\)/.test(nl.output()) ? true : undefined), 20_000);
  await until('card restarted', async () => (/card host-0 restarted \(attempt 1/.test(nl.output()) ? true : undefined), 60_000);
  await until('host restarted after its card', async () => (/host host-0 restarted \(attempt 1/.test(nl.output()) ? true : undefined), 60_000);
  const newCard = childPid(pid, / card --listen /);
  t.ok(newCard !== undefined && newCard !== card, 'a new card process runs');
  t.match(nl.output(), /host host-0 died \(exit code 3/, 'the host left on its own when its card link dropped');

  const hosts = await until('control plane reaches the restarted card', async () => {
    const r = await api<{ hosts: { hostId: string; reachable: boolean }[] }>(nl.url, 'GET', '/v1/hosts');
    return r.body.hosts?.[0]?.reachable ? r.body.hosts : undefined;
  }, 30_000);
  t.equal(hosts[0]?.hostId, 'host-0', 'same host, same management endpoint and token');

  const fresh = await until('a launch accepted after the restart', async () => launchFio(nl.url, '1m').catch(() => undefined), 60_000);
  const text = await until('fio verify report after the restart', async () => {
    const r = await api<string>(nl.url, 'GET', `/v1/instances/${fresh.instanceId}/console`);
    return typeof r.body === 'string' && /verify_errors=\d+/.test(r.body) ? r.body : undefined;
  }, 90_000);
  t.match(text, /verify_errors=0\b/, 'zero verify errors on the restarted card');
});

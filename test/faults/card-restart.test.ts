// Card crash and restart (issue 9 §1): kill -9 the card process while a guest runs fio with verify (time-based, so it
// is still running when the card dies). `nitrolab up`
// reports the death and restarts only the card, with backoff, on the same management port and link address; the host
// and its guest stay up (surprise removal: the guest's reads of the controller return all ones, its NVMe driver
// resets the controller once the card is back and requeues what was in flight); the restarted card rebuilds the
// instance from its journal; the control plane sees the same instance running; and the guest's fio completes with
// zero verify errors.
import t from 'tap';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';
import { childPid } from '../helpers/child-pid.ts';

interface Instance { instanceId: string; state: { code: number; name: string } }

t.test('kill -9 of the card during guest I/O: only the card restarts, the instance survives and fio verifies clean', async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const pid = nl.proc.pid!;
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }],
    userData: 'fio --name=w --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=8m --runtime=12s --time_based --verify=crc32c',
  });
  t.equal(r.status, 201, 'launched');
  const busy = r.body.instances[0]!;
  // fio prints when it ends; that its writes are under way shows on the volume's file on the block store.
  await until('fio writes reaching the block store', async () => {
    const dir = join(nl.dataDir, 'blockstore');
    const img = readdirSync(dir).find((f) => f.endsWith('.img'));
    return img !== undefined && statSync(join(dir, img)).blocks > 0 ? true : undefined;
  }, 60_000);
  const host = childPid(pid, / host --card /);
  const card = childPid(pid, / card --listen /);
  t.ok(card !== undefined && host !== undefined, 'a card and a host process run');
  process.kill(card!, 'SIGKILL');

  await until('card death reported', async () => (/card host-0 died \(exit code null, signal SIGKILL\)/.test(nl.output()) ? true : undefined), 20_000);
  await until('card restart announced', async () => (/card host-0 restarting in \d+ ms \(attempt 1\)/.test(nl.output()) ? true : undefined), 20_000);
  await until('card restarted', async () => (/card host-0 restarted \(attempt 1/.test(nl.output()) ? true : undefined), 60_000);
  await until('up says the host is kept', async () => (/host host-0 not restarted: it keeps running/.test(nl.output()) ? true : undefined), 20_000);
  const newCard = childPid(pid, / card --listen /);
  t.ok(newCard !== undefined && newCard !== card, 'a new card process runs');
  t.equal(childPid(pid, / host --card /), host, 'the same host process runs');
  t.notMatch(nl.output(), /host host-0 died/, 'the host did not exit');

  const hosts = await until('control plane reaches the restarted card', async () => {
    const h = await api<{ hosts: { hostId: string; reachable: boolean; card?: { boot?: { count: number; restoredInstances: number } } }[] }>(nl.url, 'GET', '/v1/hosts');
    return h.body.hosts?.[0]?.reachable ? h.body.hosts : undefined;
  }, 30_000);
  t.equal(hosts[0]?.hostId, 'host-0', 'same host, same management endpoint and token');
  t.match(hosts[0]?.card?.boot, { count: 2, restoredInstances: 1 }, 'GET /v1/hosts (and so the panel) shows the card\'s second boot and the instance it restored');
  const inst = await api<Instance>(nl.url, 'GET', `/v1/instances/${busy.instanceId}`);
  t.equal(inst.body.state?.name, 'running', 'the instance is still running after the card restart');

  const text = await until('fio verify report after the restart', async () => {
    const c = await api<string>(nl.url, 'GET', `/v1/instances/${busy.instanceId}/console`);
    return typeof c.body === 'string' && /verify_errors=\d+/.test(c.body) ? c.body : undefined;
  }, 180_000);
  t.match(text, /verify_errors=0\b/, 'zero verify errors across the card restart');
  t.notMatch(text, /io_errors=[1-9]/, 'no I/O error reached fio');
  const after = text.slice(text.indexOf('[card] the card restarted'));
  t.ok(text.includes('[card] the card restarted') && /verify_errors=0\b/.test(after), 'fio finished after the card restart (it was running when the card died)');
  t.match(after, /controller reset complete/, 'the guest driver reset the controller once the card was back');
  t.match(nl.output(), /management channel is back; announced 1 VM/, 'the host reconnected its management channel and announced its VM');
  t.match(nl.output(), /link to card is back, [1-9]\d* function\(s\) bound again/, 'a pCPU link reconnected and re-bound the instance\'s functions');
});

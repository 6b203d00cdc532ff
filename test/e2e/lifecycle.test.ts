// Instance lifecycle with EC2 semantics, as a user drives it: REST calls to the control plane and the serial console
// over its websocket. Stop keeps the EBS volume and its data (guest RAM is lost), start boots a new guest on it,
// reboot keeps the instance running, a guest `poweroff` stops the instance, terminate honours DeleteOnTermination,
// and a lifecycle call in the wrong state is a 409 IncorrectInstanceState.
import t from 'tap';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';
import { openConsole, wsUrl } from '../helpers/console-ws.ts';

interface State { code: number; name: string }
interface Instance {
  instanceId: string; hostId: string; state: State; stateReason: string | null;
  volumes: Array<{ volumeId: string; deleteOnTermination: boolean; state: string }>;
  transitions: Array<{ name: string; code: number; reason: string | null; at: string }>;
}
interface Change { instanceId: string; previousState: State; currentState: State }
interface Host { hostId: string; card?: { usage: { instances: number; vcpus: number }; instancesByState?: Record<string, number> } }

t.test('stop, start, reboot, guest poweroff and terminate follow EC2 semantics', async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const describe = async (id: string) => (await api<Instance>(nl.url, 'GET', `/v1/instances/${id}`)).body;
  const waitState = (id: string, name: string) => until(`${id} ${name}`, async () => {
    const r = await describe(id);
    return r.state?.name === name ? r : undefined;
  }, 90_000);

  const launch = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1, deleteOnTermination: false }, { sizeGiB: 1 }],
  });
  t.equal(launch.status, 201, JSON.stringify(launch.body));
  const id = launch.body.instances[0]?.instanceId ?? '';
  const [keep, scratch] = launch.body.instances[0]?.volumes ?? [];
  if (!keep || !scratch) throw new Error('no volumes in the launch reply');

  const early = await api<{ code: string }>(nl.url, 'POST', `/v1/instances/${id}/reboot`);
  if (early.status === 409) t.equal(early.body.code, 'IncorrectInstanceState', 'a pending instance cannot be rebooted');

  await waitState(id, 'running');
  const con = await openConsole(wsUrl(nl.url, `/v1/instances/${id}/console/ws?offset=0`), { apiKey: nl.apiKey });
  t.teardown(() => con.close());
  await con.waitFor(/login: root/);

  // Write 16 KiB of random data through the guest onto the volume and remember its hash.
  let mark = con.text().length;
  con.send('dd if=/dev/urandom of=/tmp/marker bs=4k count=4\n');
  con.send('dd if=/tmp/marker of=/dev/nvme0n1 bs=4k count=4 conv=fsync\n');
  con.send('sha256sum /tmp/marker\n');
  const written = (await con.waitFor(/\n([0-9a-f]{64}) {2}\/tmp\/marker/, { from: mark }))[1];

  // Stop: stopping at once, stopped when the guest is down.
  const stop = await api<Change>(nl.url, 'POST', `/v1/instances/${id}/stop`);
  t.equal(stop.status, 200, JSON.stringify(stop.body));
  t.same(stop.body.previousState, { code: 16, name: 'running' });
  t.equal(stop.body.currentState.code, 64, 'stopping(64)');
  const stopped = await waitState(id, 'stopped');
  t.equal(stopped.state.code, 80);
  t.match(stopped.stateReason, /^Client\.UserInitiatedShutdown/);
  const names = stopped.transitions.map((x) => x.name);
  t.same(names.slice(-3), ['running', 'stopping', 'stopped'], 'transitions record each step');
  for (const x of stopped.transitions) t.ok(!Number.isNaN(Date.parse(x.at)), `transition to ${x.name} has a timestamp`);
  t.match(con.text().slice(mark), /reboot: Power down/, 'the guest got an orderly shutdown request');

  const again = await api<Change>(nl.url, 'POST', `/v1/instances/${id}/stop`);
  t.equal(again.status, 200, 'stopping a stopped instance is a no-op');
  t.equal(again.body.currentState.name, 'stopped');
  const rebootStopped = await api<{ code: string }>(nl.url, 'POST', `/v1/instances/${id}/reboot`);
  t.equal(rebootStopped.status, 409);
  t.equal(rebootStopped.body.code, 'IncorrectInstanceState');

  const hosts = await api<{ hosts: Host[] }>(nl.url, 'GET', '/v1/hosts');
  t.equal(hosts.body.hosts[0]?.card?.usage.instances, 0, 'a stopped instance holds no host capacity');
  t.equal(hosts.body.hosts[0]?.card?.instancesByState?.['stopped'], 1);

  // Start: pending, then running on a fresh guest; the volume still holds what was written.
  mark = con.text().length;
  const start = await api<Change>(nl.url, 'POST', `/v1/instances/${id}/start`);
  t.equal(start.status, 200, JSON.stringify(start.body));
  t.same(start.body.currentState, { code: 0, name: 'pending' });
  await waitState(id, 'running');
  await con.waitFor(/booting on[\s\S]*login: root/, { from: mark });
  mark = con.text().length;
  con.send('dd if=/dev/nvme0n1 of=/tmp/back bs=4k count=4\n');
  con.send('sha256sum /tmp/back /tmp/marker\n');
  const back = (await con.waitFor(/\n([0-9a-f]{64}) {2}\/tmp\/back/, { from: mark }))[1];
  t.equal(back, written, 'the EBS volume kept its data across stop/start');
  await con.waitFor(/\/tmp\/marker: No such file/, { from: mark });
  t.pass('guest RAM (its tmpfs) was lost, as on EC2');

  // Reboot: the instance stays running; the guest shuts down in order and boots again.
  mark = con.text().length;
  const reboot = await api<Change>(nl.url, 'POST', `/v1/instances/${id}/reboot`);
  t.equal(reboot.status, 200);
  t.equal(reboot.body.currentState.name, 'running');
  await con.waitFor(/reboot: Power down[\s\S]*booting on[\s\S]*login: root/, { from: mark });
  t.equal((await describe(id)).state.name, 'running', 'still running after the reboot');

  // A guest that powers itself off is stopped (instance-initiated shutdown).
  con.send('poweroff\n');
  const selfStopped = await waitState(id, 'stopped');
  t.match(selfStopped.stateReason, /^Client\.InstanceInitiatedShutdown/);
  t.same(selfStopped.transitions.slice(-2).map((x) => x.name), ['stopping', 'stopped']);

  // Terminate a stopped instance: shutting-down, then terminated; DeleteOnTermination decides each volume's fate.
  const del = await api<Change>(nl.url, 'DELETE', `/v1/instances/${id}`);
  t.equal(del.status, 200);
  t.equal(del.body.previousState.name, 'stopped');
  const gone = await waitState(id, 'terminated');
  t.equal(gone.state.code, 48);
  const vol = (v: string) => gone.volumes.find((x) => x.volumeId === v)?.state;
  t.equal(vol(keep.volumeId), 'available', 'DeleteOnTermination=false: the volume survives');
  t.equal(vol(scratch.volumeId), 'deleted', 'DeleteOnTermination=true: the volume is deleted');
  const kept = await api<{ state: string }>(nl.url, 'GET', `/v1/volumes/${keep.volumeId}`);
  t.equal(kept.body.state, 'available', 'the surviving volume can be attached elsewhere');

  const late = await api<{ code: string }>(nl.url, 'POST', `/v1/instances/${id}/start`);
  t.equal(late.status, 409);
  t.equal(late.body.code, 'IncorrectInstanceState', 'a terminated instance cannot be started');
  const unknown = await api<{ code: string }>(nl.url, 'POST', '/v1/instances/i-0123456789abcdef0/stop');
  t.equal(unknown.status, 404);
  t.equal(unknown.body.code, 'InvalidInstanceID.NotFound');
  const malformed = await api<{ code: string }>(nl.url, 'POST', '/v1/instances/nope/start');
  t.equal(malformed.status, 400);
  t.equal(malformed.body.code, 'InvalidInstanceID.Malformed');
});

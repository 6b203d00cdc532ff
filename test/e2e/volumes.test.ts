// Whole system, as a user: EBS volumes as REST resources on `nitrolab up` with its block store. A volume is created,
// reached with real NBD clients at its nbdUrl, hot-plugged into a running instance (the guest's lsblk shows a new
// namespace, fio verifies through it), detached (lsblk no longer shows it), snapshotted, copied from the snapshot,
// survives the instance's termination (deleteOnTermination false) and a restart of `nitrolab up` with its data.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, startNitrolab, until, type RunningNitrolab } from '../helpers/nitrolab-up.ts';
import { haveTool } from '../blockstore/helpers.ts';

interface Volume {
  volumeId: string; sizeGiB: number; volumeType: string; iops: number; throughput: number; state: string;
  attachments: { instanceId: string; device: string; state: string; deleteOnTermination: boolean }[]; nbdUrl?: string; snapshotId: string | null;
}
interface Instance { instanceId: string; state: { name: string }; volumes: { volumeId: string; state: string; deleteOnTermination: boolean }[] }
interface Snapshot { snapshotId: string; volumeId: string; state: string; volumeSizeGiB: number }

const GiB = 1024 ** 3;

/** Use the real client when it is installed — and always under CI=true, where a missing tool must fail, not skip. */
const tool = (name: string): boolean => haveTool(name) || process.env['CI'] === 'true';

/** Type a line into the guest's console through the card's management API; wait until `until` shows up after it. */
async function shell(nl: RunningNitrolab, dataDir: string, instanceId: string, line: string, expect: RegExp, timeoutMs = 60_000): Promise<string> {
  const hosts = await api<{ hosts: { url: string }[] }>(nl.url, 'GET', '/v1/hosts');
  const cardUrl = hosts.body.hosts[0]?.url;
  const token = readFileSync(join(dataDir, 'hosts', 'host-0', 'card', 'mgmt.token'), 'utf8').trim();
  const before = (await api<string>(nl.url, 'GET', `/v1/instances/${instanceId}/console`)).body.length;
  const res = await fetch(`${cardUrl}/mgmt/v1/instances/${instanceId}/console`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ data: `${line}\n` }),
  });
  if (!res.ok) throw new Error(`console input refused: ${res.status} ${await res.text()}`);
  return until(`console shows ${expect}`, async () => {
    const text = (await api<string>(nl.url, 'GET', `/v1/instances/${instanceId}/console`)).body.slice(before);
    return expect.test(text) ? text : undefined;
  }, timeoutMs);
}

t.test('volumes: create, real clients, hot-plug into a running guest, detach, snapshot, survive termination and restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nl-vol-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  let nl = await startNitrolab(['--data-dir', dataDir]);
  t.teardown(() => nl.stop());

  // Bad input first: EC2's limits, named.
  const noIops = await api<{ code: string }>(nl.url, 'POST', '/v1/volumes', { sizeGiB: 8, volumeType: 'io2' });
  t.equal(noIops.status, 400);
  t.equal(noIops.body.code, 'MissingParameter', 'io2 needs iops');
  const tooFast = await api<{ code: string; message: string }>(nl.url, 'POST', '/v1/volumes', { sizeGiB: 1, iops: 20000 });
  t.equal(tooFast.body.code, 'InvalidParameterValue');
  t.match(tooFast.body.message, /iops 20000/);
  t.equal((await api<{ code: string }>(nl.url, 'GET', '/v1/volumes/vol-00000000000000000')).body.code, 'InvalidVolume.NotFound');

  const created = await api<Volume>(nl.url, 'POST', '/v1/volumes', { sizeGiB: 1 });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const vol = created.body;
  t.match(vol, { sizeGiB: 1, volumeType: 'gp3', iops: 3000, throughput: 125, state: 'available', attachments: [] });
  t.match(vol.nbdUrl, /^nbd:\/\/127\.0\.0\.1:\d+\/vol-[0-9a-f]{17}$/, 'the volume shows its export');
  const io2 = await api<Volume>(nl.url, 'POST', '/v1/volumes', { sizeGiB: 4, volumeType: 'io2', iops: 2000 });
  t.match(io2.body, { volumeType: 'io2', iops: 2000, throughput: 500, state: 'available' });

  if (tool('nbdinfo')) {
    const info = execFileSync('nbdinfo', ['--size', vol.nbdUrl!], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    t.equal(Number(info.trim()), GiB, 'nbdinfo reads the size of the export');
  } else t.comment('nbdinfo not installed: skipped');
  const qemuIo = tool('qemu-io');
  if (qemuIo) {
    execFileSync('qemu-io', ['-f', 'raw', vol.nbdUrl!, '-c', 'write -P 0xab 1M 64k'], { env: { ...process.env, CI: 'true' } });
  } else t.comment('qemu-io not installed: data checks through a real client skipped');

  const launch = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1, deleteOnTermination: true }], userData: 'lsblk',
  });
  t.equal(launch.status, 201, JSON.stringify(launch.body));
  const inst = launch.body.instances[0]!;
  const rootVol = inst.volumes[0]!.volumeId;
  await until('instance running', async () => {
    const r = await api<Instance>(nl.url, 'GET', `/v1/instances/${inst.instanceId}`);
    return r.body.state?.name === 'running' ? r.body : undefined;
  });
  await until('boot lsblk on the console', async () => {
    const c = (await api<string>(nl.url, 'GET', `/v1/instances/${inst.instanceId}/console`)).body;
    return /nvme0n1/.test(c) ? c : undefined;
  });
  t.match((await api<Volume>(nl.url, 'GET', `/v1/volumes/${rootVol}`)).body,
    { state: 'in-use', attachments: [{ instanceId: inst.instanceId, device: '/dev/sdf', state: 'attached', deleteOnTermination: true }] },
    'a volume created at launch is a resource too');

  // Hot-plug.
  const taken = await api<{ code: string }>(nl.url, 'POST', `/v1/volumes/${vol.volumeId}/attach`, { instanceId: inst.instanceId, deviceName: '/dev/sdf' });
  t.equal(taken.body.code, 'InvalidParameterValue', 'a device name in use is refused');
  const att = await api<Volume>(nl.url, 'POST', `/v1/volumes/${vol.volumeId}/attach`, { instanceId: inst.instanceId, deviceName: '/dev/sdg' });
  t.equal(att.status, 200, JSON.stringify(att.body));
  t.match(att.body, { state: 'in-use', attachments: [{ instanceId: inst.instanceId, device: '/dev/sdg', state: 'attached', deleteOnTermination: false }] });
  const again = await api<{ code: string }>(nl.url, 'POST', `/v1/volumes/${vol.volumeId}/attach`, { instanceId: inst.instanceId, deviceName: '/dev/sdh' });
  t.equal(again.body.code, 'VolumeInUse');
  t.equal((await api<{ code: string }>(nl.url, 'DELETE', `/v1/volumes/${vol.volumeId}`)).body.code, 'VolumeInUse', 'an attached volume cannot be deleted');

  const lsblk = await shell(nl, dataDir, inst.instanceId, 'lsblk -b', /nvme0n2\s+1073741824/);
  t.match(lsblk, /nvme0n1/, 'the launch volume is still there');
  const fio = await shell(nl, dataDir, inst.instanceId, 'fio --name=hp --filename=/dev/nvme0n2 --rw=randwrite --bs=4k --iodepth=8 --size=1m --verify=crc32c', /verify_errors=\d+/, 90_000);
  t.match(fio, /verify_errors=0\b/, 'fio verifies through the hot-plugged volume');
  if (qemuIo) {
    const hex = await shell(nl, dataDir, inst.instanceId, 'hexdump -s 1048576 -n 16 /dev/nvme0n2', /\$ $|ab ab/m);
    t.match(hex, /ab ab ab ab/, 'the guest reads what qemu-io wrote over NBD');
  }
  const stats = await api<{ nsid: number; throttle: { requests: number } }>(nl.url, 'GET', `/v1/volumes/${vol.volumeId}/stats`);
  t.equal(stats.body.nsid, 2, 'the card placed it as namespace 2 of nvme0');
  t.ok(stats.body.throttle.requests > 0, 'the card counted its I/O');

  const det = await api<Volume>(nl.url, 'POST', `/v1/volumes/${vol.volumeId}/detach`);
  t.match(det.body, { state: 'available', attachments: [] });
  const after = await shell(nl, dataDir, inst.instanceId, 'lsblk; echo DONE-LSBLK', /DONE-LSBLK/);
  t.notMatch(after, /nvme0n2/, 'lsblk no longer shows the detached volume');
  t.match(after, /nvme0n1/);

  // Snapshot and a volume from it.
  const snap = await api<Snapshot>(nl.url, 'POST', `/v1/volumes/${vol.volumeId}/snapshots`, { description: 'e2e' });
  t.equal(snap.status, 201);
  t.match(snap.body, { volumeId: vol.volumeId, state: 'completed', volumeSizeGiB: 1 });
  t.ok((await api<{ snapshots: Snapshot[] }>(nl.url, 'GET', '/v1/snapshots')).body.snapshots.some((s) => s.snapshotId === snap.body.snapshotId));
  const small = await api<{ code: string }>(nl.url, 'POST', '/v1/volumes', { snapshotId: snap.body.snapshotId, sizeGiB: 1, volumeType: 'io2', iops: 100 });
  t.equal(small.status, 400, 'io2 needs at least 4 GiB');
  const copy = await api<Volume>(nl.url, 'POST', '/v1/volumes', { snapshotId: snap.body.snapshotId, sizeGiB: 2 });
  t.equal(copy.status, 201, JSON.stringify(copy.body));
  t.match(copy.body, { sizeGiB: 2, snapshotId: snap.body.snapshotId, state: 'available' });
  if (qemuIo) {
    execFileSync('qemu-io', ['-f', 'raw', vol.nbdUrl!, '-c', 'write -P 0xcd 1M 64k'], { env: { ...process.env, CI: 'true' } });
    execFileSync('qemu-io', ['-f', 'raw', copy.body.nbdUrl!, '-c', 'read -P 0xab 1M 64k'], { env: { ...process.env, CI: 'true' } });
    t.pass('the copy holds the snapshot\'s data, not what was written after it');
  }

  // Termination: the launch volume (deleteOnTermination) goes, the detached one stays.
  await api(nl.url, 'DELETE', `/v1/instances/${inst.instanceId}`);
  await until('instance terminated', async () => {
    const r = await api<Instance>(nl.url, 'GET', `/v1/instances/${inst.instanceId}`);
    return r.body.state?.name === 'terminated' ? r.body : undefined;
  });
  await until('launch volume deleted', async () => {
    const r = await api<Volume>(nl.url, 'GET', `/v1/volumes/${rootVol}`);
    return r.body.state === 'deleted' ? r.body : undefined;
  }, 10_000);
  t.equal((await api<Volume>(nl.url, 'GET', `/v1/volumes/${vol.volumeId}`)).body.state, 'available');
  const del = await api<Volume>(nl.url, 'DELETE', `/v1/volumes/${io2.body.volumeId}`);
  t.equal(del.body.state, 'deleted');

  // Restart `nitrolab up` on the same data dir: volumes, snapshot and data are still there.
  await nl.stop();
  nl = await startNitrolab(['--data-dir', dataDir]);
  const list = await api<{ volumes: Volume[] }>(nl.url, 'GET', '/v1/volumes');
  const ids = list.body.volumes.map((v) => v.volumeId);
  t.ok(ids.includes(vol.volumeId) && ids.includes(copy.body.volumeId), 'volumes survive the restart');
  t.notOk(ids.includes(io2.body.volumeId), 'a deleted volume stays deleted');
  const back = (await api<Volume>(nl.url, 'GET', `/v1/volumes/${vol.volumeId}`)).body;
  t.equal(back.state, 'available');
  if (qemuIo) {
    execFileSync('qemu-io', ['-f', 'raw', back.nbdUrl!, '-c', 'read -P 0xcd 1M 64k'], { env: { ...process.env, CI: 'true' } });
    t.pass('the data written before the restart reads back');
  }
});

// Legacy mode reaches the same volume data as offload mode: the hypervisor's NVMe model is an NBD client of the
// volume's export on the block store (not a file of its own), so what a legacy guest writes is on the block store,
// readable by any NBD client after the instance is gone.
import t from 'tap';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';
import { NbdClient } from '../../src/nitro-card/ebs/nbd-client.ts';

t.setTimeout(240_000);

t.test('a legacy guest\'s writes land on the block store export', async (t) => {
  const nl = await startNitrolab(['--mode', 'legacy']);
  t.teardown(() => nl.stop());
  const launch = await api<{ instances: Array<{ instanceId: string; volumes: Array<{ volumeId: string }> }> }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1, deleteOnTermination: false }],
    userData: 'fio --name=pat --filename=/dev/nvme0n1 --rw=write --bs=4k --size=64k --verify=pattern --verify_pattern=0x5a17c0de',
  });
  t.equal(launch.status, 201, JSON.stringify(launch.body));
  const inst = launch.body.instances[0]!;
  const volumeId = inst.volumes[0]!.volumeId;
  const text = await until('fio report', async () => {
    const r = await api<string>(nl.url, 'GET', `/v1/instances/${inst.instanceId}/console`);
    return typeof r.body === 'string' && /verify_errors=\d+/.test(r.body) ? r.body : undefined;
  }, 120_000);
  t.match(text, /verify_errors=0/, 'the guest wrote and verified its pattern');
  t.equal((await api(nl.url, 'DELETE', `/v1/instances/${inst.instanceId}`)).status, 200);
  await until('instance terminated', async () => {
    const r = await api<{ state?: { name: string } }>(nl.url, 'GET', `/v1/instances/${inst.instanceId}`);
    return r.body.state?.name === 'terminated' ? true : undefined;
  }, 60_000);
  const vol = await until('the volume available again', async () => {
    const r = await api<{ state: string; nbdUrl?: string }>(nl.url, 'GET', `/v1/volumes/${volumeId}`);
    return r.body.state === 'available' && r.body.nbdUrl ? r.body : undefined;
  }, 60_000);
  const c = await NbdClient.connect(vol.nbdUrl!);
  t.teardown(() => c.close());
  const buf = new Uint8Array(64 * 1024);
  await c.read(0, buf);
  const words = new Uint32Array(buf.buffer);
  t.ok(words.every((w) => w === 0x5a17c0de), `all 64 KiB on the export carry the guest's pattern (first word 0x${words[0]!.toString(16)})`);
});

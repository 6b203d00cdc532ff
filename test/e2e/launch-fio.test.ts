// Whole system, as a user: `nitrolab up` on loopback, launch an instance over REST with an EBS volume and a userData
// fio line, read the console until fio reports, check zero verify errors, terminate. Once per link transport.
import t from 'tap';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';

interface Instance { instanceId: string; state: { code: number; name: string }; hostId?: string }

for (const link of ['socket', 'shm'] as const) {
  t.test(`an instance launched over REST runs fio against its EBS volume (link ${link})`, async (t) => {
    const nl = await startNitrolab(['--link', link]);
    t.teardown(() => nl.stop());

    const launch = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
      instanceType: 'm5.large',
      volumes: [{ sizeGiB: 1 }],
      userData: [
        'lspci',
        'lsblk',
        'nvme id-ctrl /dev/nvme0',
        'fio --name=e2e --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=1m --verify=crc32c',
      ].join('\n'),
    });
    t.equal(launch.status, 201, `launch accepted: ${JSON.stringify(launch.body)}`);
    const inst = launch.body.instances[0];
    if (!inst) throw new Error('no instance returned');
    t.match(inst.instanceId, /^i-[0-9a-f]{17}$/);

    const running = await until('instance running', async () => {
      const r = await api<Instance>(nl.url, 'GET', `/v1/instances/${inst.instanceId}`);
      return r.body.state?.name === 'running' ? r.body : undefined;
    });
    t.equal(running.state.code, 16);

    const consoleText = await until('fio report on the console', async () => {
      const r = await api<string>(nl.url, 'GET', `/v1/instances/${inst.instanceId}/console`);
      return typeof r.body === 'string' && /verify_errors=\d+/.test(r.body) ? r.body : undefined;
    }, 90_000);
    t.match(consoleText, /Non-Volatile memory controller/, 'lspci shows the NVMe controller');
    t.match(consoleText, /nvme0n1/, 'lsblk shows the volume');
    t.match(consoleText, /Amazon Elastic Block Store/, 'id-ctrl shows the EBS model');
    t.match(consoleText, /fio: randwrite iops=\d+/, 'fio reports IOPS');
    t.match(consoleText, /verify_errors=0\b/, 'no verify errors');

    const del = await api<Instance>(nl.url, 'DELETE', `/v1/instances/${inst.instanceId}`);
    t.equal(del.status, 200);
    const gone = await until('instance terminated', async () => {
      const r = await api<Instance>(nl.url, 'GET', `/v1/instances/${inst.instanceId}`);
      return r.body.state?.name === 'terminated' ? r.body : undefined;
    });
    t.equal(gone.state.code, 48);
  });
}

// Legacy mode's network path: the ENI's virtio-net model runs in the hypervisor (every notify a trapped exit, every
// interrupt injected), and its frames cross the link as NET_FRAME to the card's VPC data plane, which still does the
// switching, security groups and IMDS. The guests and their driver do not change: ping and IMDS work as in offload
// mode, and the host now pays for the network device.
import t from 'tap';
import { api, startNitrolab, until, type RunningNitrolab } from '../helpers/nitrolab-up.ts';

interface Instance { instanceId: string; privateIp?: string }
interface HostM { mode: string; cumulative: { exits: number; packets: number; cpuSec: { host: Record<string, number> } } }

t.setTimeout(240_000);

async function launch(nl: RunningNitrolab, userData: string): Promise<Instance> {
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', { instanceType: 'emu.nano', userData });
  if (r.status !== 201 || !r.body.instances[0]) throw new Error(`launch failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.instances[0];
}

const consoleMatch = (nl: RunningNitrolab, id: string, what: string, re: RegExp) => until(what, async () => {
  const r = await api<string>(nl.url, 'GET', `/v1/instances/${id}/console`);
  return typeof r.body === 'string' && re.test(r.body) ? r.body : undefined;
}, 120_000);

t.test('legacy mode: two guests ping each other and reach IMDS through a virtio-net model in the hypervisor', async (t) => {
  const nl = await startNitrolab(['--mode', 'legacy']);
  t.teardown(() => nl.stop());
  const before = (await api<{ hosts: HostM[] }>(nl.url, 'GET', '/v1/metrics')).body.hosts[0];
  const a = await launch(nl, 'curl -s http://169.254.169.254/latest/meta-data/instance-id');
  const imds = await consoleMatch(nl, a.instanceId, 'IMDS answer', new RegExp(`(^|\\n)${a.instanceId}`));
  t.match(imds, /eth0 10\.0\.0\.\d+\/24 \(dhcp\)/, 'DHCP from the card reached the hypervisor\'s virtio-net model');
  t.pass('curl to IMDS answered with the instance id');
  const b = await launch(nl, `ping -c 5 ${a.privateIp ?? '10.0.0.4'}`);
  const out = await consoleMatch(nl, b.instanceId, 'the ping to finish', /5 packets transmitted, \d+ received/);
  t.match(out, /5 packets transmitted, 5 received, 0% packet loss/, 'ping between the two guests');
  const after = await until('a metrics sample with the traffic', async () => {
    const h = (await api<{ hosts: HostM[] }>(nl.url, 'GET', '/v1/metrics')).body.hosts[0];
    return h && h.cumulative.packets >= 20 ? h : undefined;
  }, 30_000);
  t.equal(after.mode, 'legacy');
  t.ok(after.cumulative.exits - (before?.cumulative.exits ?? 0) > 20, `no volumes, yet the network device's notifications are VM exits (${after.cumulative.exits})`);
  t.ok((after.cumulative.cpuSec.host['deviceEmulation'] ?? 0) > 0, 'the host pays device-emulation CPU for the NIC');
  const log = nl.output();
  t.match(log, /virtio-net model for eni-[0-9a-f]+ runs in the hypervisor \(legacy mode\)/, 'the hypervisor says it runs the NIC model');
  t.notMatch(log, /legacy-frame-dropped|NET_FRAME.*ENODEV/, 'no frame was dropped for want of a port');
});

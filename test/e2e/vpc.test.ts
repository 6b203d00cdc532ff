// The VPC end to end, as a user: `nitrolab up` on loopback, instances whose guests get their address by DHCP from the
// card and use ping / nc over their virtio-net ENIs. Two hosts: the ping crosses the underlay in Geneve; a security
// group blocks ICMP until a rule allows it; a UDP flow passes and its return traffic passes; the pcap mirror parses
// with tshark (CI=true) and shows the ICMP packets and the Geneve encapsulation. One host: two instances of the
// default group ping each other card-locally, and one asks the card's IMDS for its instance id with curl.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, startNitrolab, until, type RunningNitrolab } from '../helpers/nitrolab-up.ts';

interface Instance { instanceId: string; hostId: string; state: { name: string }; privateIp?: string; macAddress?: string; networkInterfaceId?: string }
interface Group { groupId: string; rules: { ruleId: string }[] }

async function launch(nl: RunningNitrolab, userData: string, securityGroupIds?: string[]): Promise<Instance> {
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'emu.nano', userData, ...(securityGroupIds ? { securityGroupIds } : {}),
  });
  if (r.status !== 201 || !r.body.instances[0]) throw new Error(`launch failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.instances[0];
}

// Two whole-system runs with guests booting and pinging: more than the default 120 s per file on a loaded machine.
t.setTimeout(360_000);

const consoleOf = async (nl: RunningNitrolab, id: string): Promise<string> => {
  const r = await api<string>(nl.url, 'GET', `/v1/instances/${id}/console`);
  return typeof r.body === 'string' ? r.body : '';
};

const waitConsole = (nl: RunningNitrolab, id: string, what: string, re: RegExp, timeoutMs = 90_000) =>
  until(what, async () => { const c = await consoleOf(nl, id); return re.test(c) ? c : undefined; }, timeoutMs);

t.test('two hosts: ICMP blocked until a rule allows it, ping over Geneve, UDP and its return traffic, pcap mirror', async (t) => {
  const nl = await startNitrolab(['--hosts', '2']);
  t.teardown(() => nl.stop());

  const sg = await api<Group>(nl.url, 'POST', '/v1/security-groups', { groupName: 'e2e-web', description: 'no inbound yet' });
  t.equal(sg.status, 201);
  const groupId = sg.body.groupId;

  // A: a UDP echo server for one datagram. B: ping (blocked), then ping again (allowed once the test adds the rule),
  // then one UDP datagram to A's echo server.
  const a = await launch(nl, 'nc -u -l -c 1 -w 300 7000', [groupId]);
  const b = await launch(nl, ['ping -c 2 -W 1 10.0.0.4', 'ping -c 40 -i 0.5 -W 1 10.0.0.4', 'nc -u -w 5 10.0.0.4 7000 hello-vpc'].join('\n'), [groupId]);
  t.not(a.hostId, b.hostId, 'the least-loaded scheduler puts them on different hosts');
  t.equal(a.privateIp, '10.0.0.4');
  t.equal(b.privateIp, '10.0.0.5');
  t.match(a.macAddress, /^02(:[0-9a-f]{2}){5}$/);
  t.match(a.networkInterfaceId, /^eni-[0-9a-f]{17}$/);
  const described = await api<Instance>(nl.url, 'GET', `/v1/instances/${a.instanceId}`);
  t.same([described.body.hostId, described.body.privateIp, described.body.macAddress], [a.hostId, a.privateIp, a.macAddress]);

  const mirror = await api(nl.url, 'POST', `/v1/instances/${a.instanceId}/mirror`);
  t.equal(mirror.status, 201);

  await waitConsole(nl, a.instanceId, 'A leased its address by DHCP', /eth0 10\.0\.0\.4\/24 \(dhcp\)/);
  const blocked = await waitConsole(nl, b.instanceId, 'the first ping to finish', /2 packets transmitted, 0 received/);
  t.match(blocked, /10\.0\.0\.5\/24 \(dhcp\)/, 'B leased its address by DHCP');

  const rules = await api<Group>(nl.url, 'POST', `/v1/security-groups/${groupId}/rules`, {
    rules: [
      { protocol: 'icmp', fromPort: -1, toPort: -1, sourceGroupId: groupId },
      { protocol: 'udp', fromPort: 7000, toPort: 7000, cidr: '10.0.0.0/24' },
    ],
  });
  t.equal(rules.status, 201);

  const pinged = await waitConsole(nl, b.instanceId, 'the second ping to finish', /40 packets transmitted, [1-9]\d* received/, 120_000);
  t.match(pinged, /64 bytes from 10\.0\.0\.4: icmp_seq=\d+ ttl=64/);
  const udp = await waitConsole(nl, b.instanceId, 'the UDP echo reply at B', /hello-vpc/, 60_000);
  // userData lines are not echoed, so "hello-vpc" on B's console is the reply nc printed: B has no inbound UDP rule.
  t.match(udp, /packet loss[\s\S]*\nhello-vpc/, 'the echoed datagram came back (return traffic of a tracked flow)');
  t.match(await consoleOf(nl, a.instanceId), /hello-vpc/, 'A received the datagram');

  const net = await api<{ counters: { drops: Record<string, number> } }>(nl.url, 'GET', `/v1/instances/${a.instanceId}/network`);
  t.ok((net.body.counters.drops['sg-ingress'] ?? 0) >= 2, 'the blocked pings were dropped at A\'s ENI');
  const logs = await api<{ records: { action: string; direction: string; protocol: number; srcAddr: string }[] }>(nl.url, 'GET', `/v1/instances/${a.instanceId}/flow-logs`);
  t.ok(logs.body.records.some((r) => r.action === 'REJECT' && r.direction === 'ingress' && r.protocol === 1 && r.srcAddr === '10.0.0.5'), 'flow log shows the REJECT');
  t.ok(logs.body.records.some((r) => r.action === 'ACCEPT' && r.direction === 'ingress' && r.protocol === 17), 'flow log shows the UDP ACCEPT');

  const res = await fetch(`${nl.url}/v1/instances/${a.instanceId}/mirror.pcap`, { headers: { authorization: `Bearer ${nl.apiKey}` } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/vnd.tcpdump.pcap');
  const pcap = Buffer.from(await res.arrayBuffer());
  t.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
  t.equal(pcap.readUInt32LE(20), 1, 'LINKTYPE_ETHERNET');
  if (process.env['CI'] !== 'true') {
    t.comment('tshark check skipped: runs under CI=true (CI installs tshark)');
    return;
  }
  const file = join(nl.dataDir, 'mirror.pcap');
  writeFileSync(file, pcap);
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.protocols', '-e', 'icmp.type'], { encoding: 'utf8' });
  t.match(out, /^eth:ethertype:ip:icmp:data\t8$/m, 'echo requests as the ENI saw them');
  t.match(out, /^eth:ethertype:ip:icmp:data\t0$/m, 'echo replies');
  t.match(out, /^eth:ethertype:ip:udp:geneve:eth:ethertype:ip:icmp:data\t8$/m, 'the Geneve-encapsulated copy on UDP 6081');
});

t.test('one host: two instances in the default group ping each other without leaving the card', async (t) => {
  const nl = await startNitrolab(['--hosts', '1']);
  t.teardown(() => nl.stop());
  const a = await launch(nl, 'curl -s http://169.254.169.254/latest/meta-data/instance-id');
  const imds = await waitConsole(nl, a.instanceId, 'IMDS answer', new RegExp(`(^|\\n)${a.instanceId}`));
  t.match(imds, /eth0 10\.0\.0\.4\/24 \(dhcp\)/, 'A is up before B pings it');
  const b = await launch(nl, 'ping -c 3 10.0.0.4');
  t.equal(a.hostId, b.hostId);
  const out = await waitConsole(nl, b.instanceId, 'the ping to finish', /3 packets transmitted, \d+ received/);
  t.match(out, /3 packets transmitted, 3 received, 0% packet loss/, 'the default group allows traffic from its members');
  const vpc = await api<{ counters: { drops: Record<string, number> } }>(nl.url, 'GET', `/v1/instances/${b.instanceId}/network`);
  t.same(vpc.body.counters.drops, {}, 'nothing dropped');
  t.match(imds, a.instanceId, 'curl to IMDS (169.254.169.254:80, served by the card) returned the instance id');
});

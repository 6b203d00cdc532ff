// /v1/security-groups and the VPC side of launches through app.inject, against a card management API built from the
// real card code (buildMgmtApi + the VPC routes over a VpcDataplane) with a stand-in for the instance part, so the
// pushes of mappings and groups are checked where the card receives them.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { vpcCard } from '../helpers/vpc-card.ts';

t.test('create, list, describe, delete; a new group has no inbound rules and one all-outbound rule', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web', description: 'web tier' } });
  t.equal(res.statusCode, 201, res.body);
  const g = res.json();
  t.match(g.groupId, /^sg-[0-9a-f]{17}$/);
  t.match(g.rules, [{ direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0' }]);
  t.equal(g.rules.length, 1);
  const list = (await app.inject('/v1/security-groups')).json().securityGroups as { groupName: string }[];
  t.same(list.map((x) => x.groupName).sort(), ['default', 'web']);
  t.equal((await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web' } })).json().code, 'InvalidGroup.Duplicate');
  t.equal((await app.inject(`/v1/security-groups/${g.groupId}`)).json().description, 'web tier');
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/security-groups/${g.groupId}` })).statusCode, 200);
  const gone = await app.inject(`/v1/security-groups/${g.groupId}`);
  t.same([gone.statusCode, gone.json().code], [404, 'InvalidGroup.NotFound']);
  const def = list.find((x) => x.groupName === 'default') as unknown as { groupId: string };
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/security-groups/${def.groupId}` })).json().code, 'DependencyViolation');
});

t.test('rules: EC2 validation, duplicates refused, removal by id', async (t) => {
  const app = await build(t);
  const g = (await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'db' } })).json();
  const add = (rules: unknown[]) => app.inject({ method: 'POST', url: `/v1/security-groups/${g.groupId}/rules`, payload: { rules } });
  const ok = await add([{ protocol: 'tcp', fromPort: 5432, toPort: 5432, cidr: '10.0.0.0/24' }, { protocol: 'icmp', fromPort: 8, toPort: -1, sourceGroupId: g.groupId }]);
  t.equal(ok.statusCode, 201, ok.body);
  t.equal(ok.json().rules.length, 3);
  for (const [bad, code] of [
    [{ protocol: 'tcp', fromPort: 5432, toPort: 5432, cidr: '10.0.0.0/24' }, 'InvalidPermission.Duplicate'],
    [{ protocol: 'tcp', fromPort: 10, toPort: 5, cidr: '0.0.0.0/0' }, 'InvalidParameterValue'],
    [{ protocol: 'tcp', cidr: '0.0.0.0/0' }, 'InvalidParameterValue'],
    [{ protocol: 'udp', fromPort: 1, toPort: 2, cidr: '10.0.0.1/24' }, 'InvalidParameterValue'],
    [{ protocol: 'udp', fromPort: 1, toPort: 2, cidr: '10.0.0.0/24', sourceGroupId: g.groupId }, 'InvalidParameterValue'],
    [{ protocol: 'all', sourceGroupId: 'sg-00000000000000000' }, 'InvalidGroup.NotFound'],
    [{ protocol: 'gre', cidr: '0.0.0.0/0' }, 'InvalidParameterValue'],
  ] as const) {
    const r = await add([bad]);
    t.equal(r.json().code, code, JSON.stringify(bad));
  }
  const ruleId = ok.json().rules.find((r: { protocol: string }) => r.protocol === 'tcp').ruleId as string;
  const del = await app.inject({ method: 'DELETE', url: `/v1/security-groups/${g.groupId}/rules/${ruleId}` });
  t.equal(del.json().rules.length, 2);
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/security-groups/${g.groupId}/rules/${ruleId}` })).json().code, 'InvalidPermission.NotFound');
});

t.test('launch: ENI addressing, groups named at launch, pushes to the card, release on terminate', async (t) => {
  const card = await vpcCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const g = (await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web' } })).json();
  const bad = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', securityGroupIds: ['sg-00000000000000000'] } });
  t.same([bad.statusCode, bad.json().code], [404, 'InvalidGroup.NotFound']);
  t.equal(card.launched.length, 0, 'nothing reached the card');

  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'm5.large', count: 2, securityGroupIds: [g.groupId] } });
  t.equal(res.statusCode, 201, res.body);
  const [a, b] = res.json().instances as { instanceId: string; privateIp: string; macAddress: string; networkInterfaceId: string; securityGroupIds: string[] }[];
  t.same([a!.privateIp, b!.privateIp], ['10.0.0.4', '10.0.0.5'], 'lowest free addresses after the 4 AWS reserves');
  t.not(a!.macAddress, b!.macAddress);
  t.same(a!.securityGroupIds, [g.groupId]);
  const net = card.launched[0]!.network!;
  t.match(net, { eniId: a!.networkInterfaceId, macAddress: a!.macAddress, privateIp: '10.0.0.4', subnetCidr: '10.0.0.0/24', vni: 1, securityGroupIds: [g.groupId] });
  t.equal(net.limits?.tx.bandwidth.size, 9_375_000, 'm5.large baseline 0.75 Gbit/s per 100 ms');
  t.same(card.plane.listMappings().map((m) => [m.privateIp, m.hostId, m.underlay.address]), [['10.0.0.4', 'host-0', '127.9.9.9'], ['10.0.0.5', 'host-0', '127.9.9.9']]);
  t.ok(card.plane.sg.has(g.groupId), 'groups pushed');

  await app.inject({ method: 'POST', url: `/v1/security-groups/${g.groupId}/rules`, payload: { rules: [{ protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] } });
  t.equal(card.plane.sg.list().find((x) => x.groupId === g.groupId)!.rules.length, 2, 'rule change pushed');
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/security-groups/${g.groupId}` })).json().code, 'DependencyViolation');

  const d = (await app.inject(`/v1/instances/${a!.instanceId}`)).json();
  t.same([d.privateIp, d.macAddress, d.hostId], [a!.privateIp, a!.macAddress, 'host-0']);
  const eni = await app.inject(`/v1/instances/${a!.instanceId}/network`);
  t.match(eni.json(), { privateIp: '10.0.0.4', counters: { pps_allowance_exceeded: 0 } });
  t.equal((await app.inject({ method: 'POST', url: `/v1/instances/${a!.instanceId}/mirror` })).statusCode, 201);
  const pcap = await app.inject(`/v1/instances/${a!.instanceId}/mirror.pcap`);
  t.equal(pcap.headers['content-type'], 'application/vnd.tcpdump.pcap');
  t.equal(pcap.rawPayload.length, 24, 'an empty capture is the global header');
  t.same((await app.inject(`/v1/instances/${b!.instanceId}/mirror.pcap`)).json().code, 'InvalidMirror.NotFound');
  t.same((await app.inject(`/v1/instances/${a!.instanceId}/flow-logs`)).json(), { records: [] });

  t.equal((await app.inject({ method: 'DELETE', url: `/v1/instances/${a!.instanceId}` })).statusCode, 200);
  // The release push is asynchronous: wait for the card to hear of it.
  for (let i = 0; i < 400 && card.plane.listMappings().length > 1; i++) await new Promise((r) => setTimeout(r, 5));
  t.same(card.plane.listMappings().map((m) => m.privateIp), ['10.0.0.5'], 'terminated instance unmapped');
  const c = (await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano' } })).json().instances[0];
  t.equal(c.privateIp, '10.0.0.4', 'the address went back to the subnet');
  t.equal(c.securityGroupIds.length, 1, 'default group when none is named');
});

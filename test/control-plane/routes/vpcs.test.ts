// /v1/vpcs and /v1/subnets through app.inject: the embedded default, new VPCs (next VNI, own default group),
// subnets inside their VPC without overlap, launches into a subnet with that VPC's groups only.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { vpcCard } from '../helpers/vpc-card.ts';

t.test('the default VPC and subnet exist from the start', async (t) => {
  const app = await build(t);
  t.match((await app.inject('/v1/vpcs')).json().vpcs, [{ vpcId: 'vpc-00000000000000001', cidrBlock: '10.0.0.0/16', vni: 1, isDefault: true }]);
  t.match((await app.inject('/v1/subnets')).json().subnets, [{ subnetId: 'subnet-00000000000000001', cidrBlock: '10.0.0.0/24', isDefault: true }]);
  t.equal((await app.inject('/v1/vpcs/vpc-nope')).json().code, 'InvalidVpcID.NotFound');
});

t.test('a new VPC gets the next VNI and its own default group; subnets must fit and not overlap', async (t) => {
  const app = await build(t);
  const v = await app.inject({ method: 'POST', url: '/v1/vpcs', payload: { cidrBlock: '172.16.0.0/16' } });
  t.equal(v.statusCode, 201, v.body);
  t.match(v.json(), { vpcId: /^vpc-[0-9a-f]{17}$/, vni: 2, isDefault: false });
  const vpcId = v.json().vpcId as string;
  const groups = (await app.inject('/v1/security-groups')).json().securityGroups as { groupName: string; vpcId: string }[];
  t.same(groups.filter((g) => g.groupName === 'default').map((g) => g.vpcId).sort(), ['vpc-00000000000000001', vpcId].sort());
  const sub = (cidrBlock: string, id = vpcId) => app.inject({ method: 'POST', url: '/v1/subnets', payload: { vpcId: id, cidrBlock } });
  t.equal((await sub('172.16.1.0/24')).statusCode, 201);
  t.equal((await sub('172.16.1.128/25')).json().code, 'InvalidSubnet.Conflict');
  t.equal((await sub('10.1.0.0/24')).json().code, 'InvalidSubnet.Range');
  t.equal((await sub('172.16.0.0/8')).json().code, 'InvalidParameterValue');
  t.equal((await sub('172.16.2.0/24', 'vpc-00000000000000009')).json().code, 'InvalidVpcID.NotFound');
  t.equal((await app.inject({ method: 'POST', url: '/v1/vpcs', payload: { cidrBlock: '10.0.0.0/8' } })).json().code, 'InvalidParameterValue');
  t.equal((await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web', vpcId } })).statusCode, 201);
  t.equal((await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web' } })).statusCode, 201, 'names are unique per VPC');
});

t.test('launch into a subnet: address from its block, its VPC\'s VNI, groups of that VPC only', async (t) => {
  const card = await vpcCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const vpcId = (await app.inject({ method: 'POST', url: '/v1/vpcs', payload: { cidrBlock: '172.16.0.0/16' } })).json().vpcId as string;
  const subnetId = (await app.inject({ method: 'POST', url: '/v1/subnets', payload: { vpcId, cidrBlock: '172.16.1.0/28' } })).json().subnetId as string;
  const otherGroup = (await app.inject({ method: 'POST', url: '/v1/security-groups', payload: { groupName: 'web' } })).json().groupId as string;
  const wrong = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', subnetId, securityGroupIds: [otherGroup] } });
  t.same([wrong.statusCode, wrong.json().code], [400, 'InvalidParameterValue']);
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', subnetId } });
  t.equal(res.statusCode, 201, res.body);
  t.match(res.json().instances[0], { privateIp: '172.16.1.4', subnetId, vpcId });
  t.match(card.launched.at(-1)!.network, { privateIp: '172.16.1.4', subnetCidr: '172.16.1.0/28', vni: 2 });
  // A /28 has 16 addresses: .4 to .14 are usable (11); the 12th launch finds none.
  const more = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', subnetId, count: 10 } });
  t.equal(more.statusCode, 201, more.body);
  const full = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', subnetId } });
  t.equal(full.json().code, 'InsufficientInstanceCapacity');
  t.equal((await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', subnetId: 'subnet-nope' } })).json().code, 'InvalidSubnetID.NotFound');
});

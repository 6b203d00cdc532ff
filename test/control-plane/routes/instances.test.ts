// /v1/instances through app.inject, with stand-in cards on real sockets.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard, deadCardUrl } from '../helpers/stand-in-card.ts';

type Inst = { instanceId: string; hostId: string; state: { code: number; name: string }; stateReason: string | null;
  volumes: Array<{ volumeId: string; sizeGiB: number; deviceName: string; deleteOnTermination: boolean; state: string }>;
  transitions: Array<{ name: string }> };

t.test('launch → pending, then running once the card reports the guest booted', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.small', userData: 'echo hi', volumes: [{ sizeGiB: 2 }] } });
  t.equal(res.statusCode, 201, res.body);
  const [inst] = res.json().instances as Inst[];
  t.ok(inst);
  t.match(inst!.instanceId, /^i-[0-9a-f]{17}$/);
  t.same(inst!.state, { code: 0, name: 'pending' });
  t.equal(inst!.hostId, 'host-0');
  t.match(inst!.volumes, [{ sizeGiB: 2, deviceName: '/dev/sdf', deleteOnTermination: true, state: 'in-use' }]);
  const onCard = card.instances.get(inst!.instanceId);
  t.match(onCard, { instanceType: 'emu.small', vcpus: 2, memMiB: 512, userData: 'echo hi' });
  t.same(onCard!.volumes, [{ volumeId: inst!.volumes[0]!.volumeId, sizeBytes: 2 * 1024 ** 3, deviceName: '/dev/sdf', deleteOnTermination: true }]);

  let got = (await app.inject(`/v1/instances/${inst!.instanceId}`)).json() as Inst;
  t.same(got.state, { code: 0, name: 'pending' });
  card.boot(inst!.instanceId);
  got = (await app.inject(`/v1/instances/${inst!.instanceId}`)).json() as Inst;
  t.same(got.state, { code: 16, name: 'running' });
  t.same(got.transitions.map((x) => x.name), ['pending', 'running']);
});

t.test('count=3 launches three and spreads them over two hosts (least-loaded)', async (t) => {
  const a = await standInCard(t, { hostId: 'host-a' });
  const b = await standInCard(t, { hostId: 'host-b' });
  const app = await build(t, { cards: [a.endpoint, b.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro', count: 3 } });
  t.equal(res.statusCode, 201, res.body);
  const hosts = (res.json().instances as Inst[]).map((i) => i.hostId);
  t.same(hosts, ['host-a', 'host-b', 'host-a']);
  t.equal(a.instances.size + b.instances.size, 3);
});

t.test('an unknown instance type is a 400 InvalidInstanceType naming the type, and nothing reaches the card', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'm5.huge' } });
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, 'InvalidInstanceType');
  t.match(res.json().message, /"m5\.huge"/);
  t.same(card.requests, []);
  t.same((await app.inject('/v1/instances')).json().instances, []);
});

t.test('bad body fields are 400 InvalidParameterValue naming the value', async (t) => {
  const app = await build(t);
  const cases: Array<[unknown, RegExp]> = [
    [{ instanceType: 'emu.nano', count: 50 }, /count.*got 50/],
    [{ instanceType: 'emu.nano', volumes: [{ sizeGiB: 1, deviceName: '/dev/hda' }] }, /deviceName.*"\/dev\/hda"/],
    [{ instanceType: 'emu.nano', colour: 'red' }, /additional.*"colour"/],
    [{}, /instanceType/],
    [{ instanceType: 'emu.nano', volumes: [{ sizeGiB: 1, deviceName: '/dev/sdg' }, { sizeGiB: 1, deviceName: '/dev/sdg' }] }, /"\/dev\/sdg" is used twice/],
  ];
  for (const [payload, msg] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: payload as object });
    t.equal(res.statusCode, 400, JSON.stringify(payload));
    t.equal(res.json().code, 'InvalidParameterValue');
    t.match(res.json().message, msg);
  }
});

t.test('unknown id → 404 InvalidInstanceID.NotFound; malformed id → 400', async (t) => {
  const app = await build(t);
  const missing = await app.inject('/v1/instances/i-0123456789abcdef0');
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, 'InvalidInstanceID.NotFound');
  t.match(missing.json().message, /i-0123456789abcdef0/);
  const bad = await app.inject({ method: 'DELETE', url: '/v1/instances/bogus' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'InvalidInstanceID.Malformed');
  t.match(bad.json().message, /"bogus"/);
});

t.test('card down → 502 CardUnavailable and no instance is left behind', async (t) => {
  const app = await build(t, { cards: [{ hostId: 'host-0', url: await deadCardUrl(), token: 'x' }] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano' } });
  t.equal(res.statusCode, 502);
  t.equal(res.json().code, 'CardUnavailable');
  t.match(res.json().message, /ECONNREFUSED/);
  t.same((await app.inject('/v1/instances')).json().instances, []);
  t.equal((app.controlPlane.db.prepare('SELECT COUNT(*) AS n FROM volumes').get() as { n: number }).n, 0, 'no volumes either');
});

t.test('card refuses the launch after placement → rolled back, siblings terminated on their card', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  card.failNext('POST', { status: 503, body: { code: 'Internal', message: 'firmware hiccup' } }, 1);
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', count: 2 } });
  t.equal(res.statusCode, 502);
  t.equal(res.json().code, 'CardUnavailable');
  t.same((await app.inject('/v1/instances')).json().instances, [], 'nothing half-created');
  t.equal(card.requests.filter((r) => r === 'POST /mgmt/v1/instances').length, 2);
  t.equal(card.instances.size, 1, 'the first launch reached the card');
  t.ok([...card.instances.values()].every((i) => i.state === 'terminated'), 'and was terminated there by the rollback');
});

t.test('more than the hosts can hold → 503 InsufficientInstanceCapacity, none launched', async (t) => {
  const card = await standInCard(t, { vcpus: 2, memMiB: 1024 });
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.small', count: 2 } });
  t.equal(res.statusCode, 503);
  t.equal(res.json().code, 'InsufficientInstanceCapacity');
  t.match(res.json().message, /2 × emu\.small/);
  t.equal(card.instances.size, 0);
});

t.test('terminate: the card terminates it; state 48 and volumes released per deleteOnTermination', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const launched = (await app.inject({ method: 'POST', url: '/v1/instances',
    payload: { instanceType: 'emu.nano', volumes: [{ sizeGiB: 1 }, { sizeGiB: 1, deleteOnTermination: false }] } })).json().instances[0] as Inst;
  card.boot(launched.instanceId);
  const del = await app.inject({ method: 'DELETE', url: `/v1/instances/${launched.instanceId}` });
  t.equal(del.statusCode, 200);
  t.same(del.json(), { instanceId: launched.instanceId, previousState: { code: 0, name: 'pending' }, currentState: { code: 48, name: 'terminated' } });
  t.equal(card.instances.get(launched.instanceId)?.state, 'terminated');
  const got = (await app.inject(`/v1/instances/${launched.instanceId}`)).json() as Inst;
  t.same(got.transitions.map((x) => x.name), ['pending', 'shutting-down', 'terminated']);
  t.same(got.volumes.map((v) => v.state), ['deleted', 'available']);
  const again = await app.inject({ method: 'DELETE', url: `/v1/instances/${launched.instanceId}` });
  t.equal(again.json().currentState.name, 'terminated', 'terminating twice is harmless');
});

t.test('terminate with the card down → 502, instance stays shutting-down, later refresh completes it', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const id = ((await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano' } })).json().instances[0] as Inst).instanceId;
  card.failNext('DELETE', 'garbage');
  const del = await app.inject({ method: 'DELETE', url: `/v1/instances/${id}` });
  t.equal(del.statusCode, 502);
  t.equal(del.json().code, 'CardUnavailable');
  const mid = (await app.inject(`/v1/instances/${id}`)).json() as Inst;
  t.equal(mid.state.name, 'terminated', 'the describe retried the terminate and the card confirmed');
  t.equal(card.instances.get(id)?.state, 'terminated');
});

t.test('list filters by state', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const ids = ((await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', count: 2 } })).json().instances as Inst[]).map((i) => i.instanceId);
  card.boot(ids[0]!);
  const running = (await app.inject('/v1/instances?state=running')).json().instances as Inst[];
  t.same(running.map((i) => i.instanceId), [ids[0]]);
  const both = (await app.inject('/v1/instances?state=pending,running')).json().instances as Inst[];
  t.equal(both.length, 2);
  const bad = await app.inject('/v1/instances?state=exploded');
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /"exploded"/);
});

t.test('console output passes through as text/plain and is cached', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const id = ((await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano' } })).json().instances[0] as Inst).instanceId;
  card.writeConsole(id, 'Booting nitrolab guest\n');
  let res = await app.inject(`/v1/instances/${id}/console`);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.equal(res.body, 'Booting nitrolab guest\n');
  card.writeConsole(id, 'login: ');
  res = await app.inject(`/v1/instances/${id}/console`);
  t.equal(res.body, 'Booting nitrolab guest\nlogin: ');
  t.ok(card.requests.includes(`GET /mgmt/v1/instances/${id}/console`));
  card.failNext('GET', 'garbage');
  res = await app.inject(`/v1/instances/${id}/console`);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-console-stale'], 'true');
  t.equal(res.body, 'Booting nitrolab guest\nlogin: ', 'cached output when the card cannot be asked');
});

t.test('state survives reopening the SQLite file', async (t) => {
  const card = await standInCard(t);
  const dataDir = t.testdir();
  const first = await build(t, { dataDir, cards: [card.endpoint] });
  const id = ((await first.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano', volumes: [{ sizeGiB: 3 }] } })).json().instances[0] as Inst).instanceId;
  card.boot(id);
  await first.inject(`/v1/instances/${id}`);
  await first.close();
  const second = await build(t, { dataDir, cards: [card.endpoint] });
  const got = (await second.inject(`/v1/instances/${id}`)).json() as Inst;
  t.equal(got.state.name, 'running');
  t.equal(got.volumes[0]?.sizeGiB, 3);
  t.same(got.transitions.map((x) => x.name), ['pending', 'running']);
});

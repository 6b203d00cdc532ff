// CardClient over real sockets against the stand-in card: replies, contract errors, and how failures are classified.
import t from 'tap';
import { CardClient, CardRequestError } from '../../src/control-plane/card-client.ts';
import { standInCard, deadCardUrl } from './helpers/stand-in-card.ts';

const launchReq = (id: string) => ({ instanceId: id, instanceType: 'emu.nano', vcpus: 1, memMiB: 128, userData: '', volumes: [] });

t.test('speaks the contract: card info, launch, describe, console, terminate', async (t) => {
  const card = await standInCard(t, { hostId: 'h1' });
  const seen: string[] = [];
  const c = new CardClient(card.endpoint, { onRequest: (h, op, outcome) => seen.push(`${h} ${op} ${outcome}`) });
  t.teardown(() => c.close());
  t.match(await c.getCard(), { hostId: 'h1', mode: 'offload', capacity: { vcpus: 8 } });
  t.same(await c.launch(launchReq('i-00000000000000001')), { instanceId: 'i-00000000000000001', state: 'pending' });
  card.writeConsole('i-00000000000000001', 'abcdef');
  t.same(await c.console('i-00000000000000001', 2), { data: 'cdef', next: 6 });
  t.match(await c.describe('i-00000000000000001'), { state: 'pending', stateReason: null, functions: [] });
  t.same(await c.terminate('i-00000000000000001'), { instanceId: 'i-00000000000000001', state: 'terminated' });
  t.same(seen, ['h1 getCard ok', 'h1 launch ok', 'h1 console ok', 'h1 describe ok', 'h1 terminate ok']);
});

t.test('a card error reply is `rejected` with the card code', async (t) => {
  const card = await standInCard(t);
  const c = new CardClient(card.endpoint);
  t.teardown(() => c.close());
  await t.rejects(c.describe('i-00000000000000009'), { name: 'CardRequestError', failure: 'rejected', status: 404, cardCode: 'InstanceNotFound' });
  card.failNext('POST', { status: 409, body: { code: 'InsufficientCapacity', message: 'full' } });
  await t.rejects(c.launch(launchReq('i-00000000000000002')), { failure: 'rejected', cardCode: 'InsufficientCapacity', message: /full/ });
});

t.test('a wrong token is `rejected` Unauthorized', async (t) => {
  const card = await standInCard(t);
  const c = new CardClient({ ...card.endpoint, token: 'nope' });
  t.teardown(() => c.close());
  await t.rejects(c.getCard(), { failure: 'rejected', status: 401, cardCode: 'Unauthorized', message: /token refused/ });
});

t.test('a refused connection is `unreachable`: the request never reached a card', async (t) => {
  const c = new CardClient({ hostId: 'h9', url: await deadCardUrl(), token: 't' });
  t.teardown(() => c.close());
  const err = await c.launch(launchReq('i-00000000000000003')).catch((e: unknown) => e);
  t.ok(err instanceof CardRequestError);
  t.match(err, { failure: 'unreachable', hostId: 'h9', op: 'launch', message: /ECONNREFUSED/ });
});

t.test('no reply before the deadline, a 5xx, or non-JSON is `unknown`', async (t) => {
  const card = await standInCard(t);
  const c = new CardClient(card.endpoint, { timeoutMs: 150 });
  t.teardown(() => c.close());
  card.failNext('POST', 'hang');
  await t.rejects(c.launch(launchReq('i-00000000000000004')), { failure: 'unknown', message: /no reply within 150 ms/ });
  card.failNext('GET', { status: 500, body: { code: 'Boom', message: 'kaput' } });
  await t.rejects(c.getCard(), { failure: 'unknown', status: 500, message: /HTTP 500: kaput/ });
  card.failNext('GET', 'garbage');
  await t.rejects(c.getCard(), { failure: 'unknown', message: /not JSON/ });
});

t.test('a reply outside the contract, or from the wrong host, is `unknown`', async (t) => {
  const card = await standInCard(t, { hostId: 'real-host' });
  const c = new CardClient({ ...card.endpoint, hostId: 'configured-host' });
  t.teardown(() => c.close());
  await t.rejects(c.getCard(), { failure: 'unknown', message: /reports hostId "real-host", configured as "configured-host"/ });
  const ok = new CardClient(card.endpoint);
  t.teardown(() => ok.close());
  card.failNext('POST', { status: 201, body: { instanceId: 'i-00000000000000005', state: 'booting' } });
  await t.rejects(ok.launch(launchReq('i-00000000000000005')), { failure: 'unknown', message: /state is not an EC2 state name/ });
  card.failNext('DELETE', { status: 200, body: { instanceId: 'i-99999999999999999', state: 'terminated' } });
  await t.rejects(ok.terminate('i-00000000000000005'), { failure: 'unknown', message: /another instance than i-00000000000000005/ });
});

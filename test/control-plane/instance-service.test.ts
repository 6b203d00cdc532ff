// InstanceService against stand-in cards: all-or-nothing launches when a card's answer is lost or refused, refresh,
// and the state-change events the panel will subscribe to.
import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import { openDb } from '../../src/control-plane/state/db.ts';
import { InstanceStore } from '../../src/control-plane/state/instance-store.ts';
import { ConsoleStore } from '../../src/control-plane/state/console-store.ts';
import { CardRegistry } from '../../src/control-plane/cards.ts';
import { ControlPlaneMetrics } from '../../src/control-plane/metrics.ts';
import { InstanceService } from '../../src/control-plane/instance-service.ts';
import type { StateChange } from '../../src/control-plane/instance-service.ts';
import type { CardEndpoint } from '../../src/control-plane/card-contract.ts';
import { standInCard } from './helpers/stand-in-card.ts';

function service(t: Test, cards: CardEndpoint[], timeoutMs = 2000) {
  const db = openDb(':memory:');
  const registry = new CardRegistry(cards, { timeoutMs });
  t.teardown(() => { registry.close(); db.close(); });
  const store = new InstanceStore(db);
  const svc = new InstanceService({ store, console: new ConsoleStore(db), cards: registry, metrics: new ControlPlaneMetrics(), log: pino({ level: 'silent' }) });
  return { svc, store };
}

const nano = { instanceType: 'emu.nano', count: 1, userData: '', volumes: [] };

t.test('a launch the card applied but never answered is terminated there and forgotten here', async (t) => {
  const card = await standInCard(t);
  const { svc, store } = service(t, [card.endpoint], 200);
  card.failNext('POST', 'apply-then-hang');
  await t.rejects(svc.launch(nano), { code: 'CardUnavailable', message: /no reply within 200 ms/ });
  t.equal(card.instances.size, 1, 'the card did create it');
  t.equal([...card.instances.values()][0]?.state, 'terminated', 'and the rollback terminated it');
  t.same(store.list(), []);
});

t.test('if the rollback cannot confirm either, the instance stays visible as shutting-down until a refresh finishes it', async (t) => {
  const card = await standInCard(t);
  const { svc, store } = service(t, [card.endpoint], 200);
  card.failNext('POST', 'apply-then-hang');
  card.failNext('DELETE', 'garbage');
  await t.rejects(svc.launch(nano), { code: 'CardUnavailable' });
  const [left] = store.list();
  t.match(left, { state: { name: 'shutting-down' }, stateReason: /LaunchRolledBack/ });
  const after = await svc.describe(left!.instanceId);
  t.equal(after.state.name, 'terminated');
  t.equal(card.instances.get(left!.instanceId)?.state, 'terminated');
});

t.test('card refusals map to the catalogue and leave nothing behind', async (t) => {
  const card = await standInCard(t);
  const { svc, store } = service(t, [card.endpoint]);
  card.failNext('POST', { status: 409, body: { code: 'InsufficientCapacity', message: 'guest memory exhausted' } });
  await t.rejects(svc.launch(nano), { code: 'InsufficientInstanceCapacity', message: /guest memory exhausted/ });
  card.failNext('POST', { status: 400, body: { code: 'InvalidParameter', message: 'userData too long for card' } });
  await t.rejects(svc.launch(nano), { code: 'InvalidParameterValue', message: /userData too long for card/ });
  t.same(store.list(), []);
  t.same(card.requests.filter((r) => r.startsWith('DELETE')), [], 'a refused launch needs no cleanup call');
});

t.test('concurrent launches are serialised, so the second sees the first one\'s usage', async (t) => {
  const card = await standInCard(t, { vcpus: 2, memMiB: 1024 });
  const { svc } = service(t, [card.endpoint]);
  const small = { ...nano, instanceType: 'emu.small' };
  const [a, b] = await Promise.allSettled([svc.launch(small), svc.launch(small)]);
  t.equal(a.status, 'fulfilled');
  t.match(b, { status: 'rejected', reason: { code: 'InsufficientInstanceCapacity' } });
  t.equal(card.instances.size, 1);
});

t.test('an instance its card no longer knows is terminated with a reason', async (t) => {
  const card = await standInCard(t);
  const { svc } = service(t, [card.endpoint]);
  const [inst] = await svc.launch(nano);
  card.instances.clear();
  t.match(await svc.describe(inst!.instanceId), { state: { name: 'terminated' }, stateReason: /InstanceLost: card host-0 has no record/ });
});

t.test('a card that cannot be asked leaves the stored state in place', async (t) => {
  const card = await standInCard(t);
  const { svc } = service(t, [card.endpoint]);
  const [inst] = await svc.launch(nano);
  card.failNext('GET', 'garbage');
  t.match(await svc.describe(inst!.instanceId), { state: { name: 'pending' } });
});

t.test('state changes are published: launch, boot, terminate', async (t) => {
  const card = await standInCard(t);
  const { svc } = service(t, [card.endpoint]);
  const seen: StateChange[] = [];
  const off = svc.onStateChange((c) => seen.push(c));
  const [inst] = await svc.launch(nano);
  const id = inst!.instanceId;
  card.boot(id);
  await svc.describe(id);
  await svc.terminate(id);
  off();
  await svc.launch(nano);
  t.same(seen.map((c) => [c.previous, c.current]), [[null, 'pending'], ['pending', 'running'], ['running', 'shutting-down'], ['shutting-down', 'terminated']]);
  t.ok(seen.every((c) => c.instanceId === id));
});

t.test('a card that reports running straight away moves the instance to running', async (t) => {
  const card = await standInCard(t, { bootImmediately: true });
  const { svc } = service(t, [card.endpoint]);
  const [inst] = await svc.launch(nano);
  t.equal(inst!.state.name, 'running');
  t.same(inst!.transitions.map((x) => x.name), ['pending', 'running']);
});

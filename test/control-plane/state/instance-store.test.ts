// InstanceStore: launch batches, transitions with history, volume release, rollback.
import t from 'tap';
import type { Test } from 'tap';
import { openDb } from '../../../src/control-plane/state/db.ts';
import { InstanceStore } from '../../../src/control-plane/state/instance-store.ts';
import type { NewInstance } from '../../../src/control-plane/state/instance-store.ts';

function setup(t: Test) {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  let tick = 0;
  return new InstanceStore(db, () => `2026-01-01T00:00:${String(tick++).padStart(2, '0')}Z`);
}

const inst = (n: number, vols: NewInstance['volumes'] = []): NewInstance => ({
  instanceId: `i-${String(n).padStart(17, '0')}`, instanceType: 'emu.nano', hostId: 'h', vcpus: 1, memMiB: 128, userData: 'u', volumes: vols,
});

t.test('a batch is stored as pending with one transition, listed in launch order', async (t) => {
  const s = setup(t);
  s.insertPending([inst(2), inst(1, [{ volumeId: 'vol-1', sizeGiB: 4, deviceName: '/dev/sdf', deleteOnTermination: true }])]);
  const all = s.list();
  t.same(all.map((r) => r.instanceId), [inst(2).instanceId, inst(1).instanceId]);
  t.match(all[1], { state: { code: 0, name: 'pending' }, stateReason: null, userData: 'u', refreshedAt: null,
    volumes: [{ volumeId: 'vol-1', sizeGiB: 4, state: 'in-use' }], transitions: [{ name: 'pending', code: 0 }] });
});

t.test('a batch with a duplicate id is not stored at all', async (t) => {
  const s = setup(t);
  s.insertPending([inst(1)]);
  t.throws(() => s.insertPending([inst(2), inst(1)]));
  t.equal(s.list().length, 1);
});

t.test('transitions append history, update the reason, and release volumes on terminated', async (t) => {
  const s = setup(t);
  s.insertPending([inst(1, [
    { volumeId: 'vol-a', sizeGiB: 1, deviceName: '/dev/sdf', deleteOnTermination: true },
    { volumeId: 'vol-b', sizeGiB: 1, deviceName: '/dev/sdg', deleteOnTermination: false },
  ])]);
  const id = inst(1).instanceId;
  s.transition(id, 'running', null, true);
  s.transition(id, 'running', null, true);
  const r = s.transition(id, 'terminated', 'Client.UserInitiatedShutdown: User initiated shutdown');
  t.same(r.transitions.map((x) => x.name), ['pending', 'running', 'terminated'], 'a repeated state adds no history');
  t.same(r.state, { code: 48, name: 'terminated' });
  t.match(r.stateReason, /UserInitiated/);
  t.ok(r.refreshedAt);
  t.same(r.volumes.map((v) => v.state), ['deleted', 'available']);
  t.throws(() => s.transition(id, 'running', null), { message: /terminated; cannot move to running/ });
  t.same(s.countByState(), { terminated: 1 });
});

t.test('list filters by state; rollback forgets instances and their volumes', async (t) => {
  const s = setup(t);
  s.insertPending([inst(1), inst(2, [{ volumeId: 'vol-x', sizeGiB: 1, deviceName: '/dev/sdf', deleteOnTermination: true }])]);
  s.transition(inst(1).instanceId, 'running', null);
  t.same(s.list(['running']).map((r) => r.instanceId), [inst(1).instanceId]);
  t.same(s.list(['pending', 'running']).length, 2);
  s.rollback([inst(2).instanceId]);
  t.equal(s.get(inst(2).instanceId), undefined);
  t.same(s.countByState(), { running: 1 });
});

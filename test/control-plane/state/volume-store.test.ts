// Volumes and snapshots in SQLite (src/control-plane/state/volume-store.ts) and migration 2 keeping launch volumes.
import t from 'tap';
import { migrate, MIGRATIONS, openDb } from '../../../src/control-plane/state/db.ts';
import { InstanceStore } from '../../../src/control-plane/state/instance-store.ts';
import { VolumeStore } from '../../../src/control-plane/state/volume-store.ts';
import Database from 'better-sqlite3';

const inst = (id: string) => ({ instanceId: id, instanceType: 'm5.large', hostId: 'host-0', vcpus: 2, memMiB: 8192, userData: '', volumes: [] as { volumeId: string; sizeGiB: number; deviceName: string; deleteOnTermination: boolean }[] });

t.test('migration 2 keeps the volumes created at launch, attached, with gp3 defaults', async (t) => {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  migrate(db, MIGRATIONS.filter((m) => m.version === 1));
  new InstanceStore(db).insertPending([{ ...inst('i-00000000000000001'), volumes: [{ volumeId: 'vol-00000000000000001', sizeGiB: 2, deviceName: '/dev/sdf', deleteOnTermination: true }] }]);
  migrate(db, MIGRATIONS);
  const v = new VolumeStore(db).get('vol-00000000000000001');
  t.match(v, { sizeGiB: 2, volumeType: 'gp3', iops: 3000, throughput: 125, state: 'in-use', attachments: [{ instanceId: 'i-00000000000000001', device: '/dev/sdf', state: 'attached', deleteOnTermination: true }] });
  t.equal(new InstanceStore(db).get('i-00000000000000001')?.volumes.length, 1, 'the instance still shows it');
  db.close();
});

t.test('attach claims an available volume once; release and delete leave the instance record', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  new InstanceStore(db).insertPending([inst('i-00000000000000002')]);
  const s = new VolumeStore(db);
  s.insert({ volumeId: 'vol-00000000000000002', sizeGiB: 1, volumeType: 'gp3', iops: 3000, throughput: 125, snapshotId: null });
  t.equal(s.get('vol-00000000000000002')?.state, 'creating');
  t.notOk(s.beginAttach('vol-00000000000000002', 'i-00000000000000002', '/dev/sdg'), 'a creating volume cannot be attached');
  s.setState('vol-00000000000000002', 'available');
  t.ok(s.beginAttach('vol-00000000000000002', 'i-00000000000000002', '/dev/sdg'));
  t.notOk(s.beginAttach('vol-00000000000000002', 'i-00000000000000002', '/dev/sdh'), 'the second attach loses');
  t.same(s.devicesOf('i-00000000000000002'), ['/dev/sdg']);
  t.match(s.setAttachState('vol-00000000000000002', 'attached').attachments, [{ state: 'attached', deleteOnTermination: false }]);
  t.match(s.release('vol-00000000000000002'), { state: 'available', attachments: [] });
  t.same(s.list().map((v) => v.volumeId), ['vol-00000000000000002']);
  s.setState('vol-00000000000000002', 'deleted');
  t.same(s.list(), [], 'deleted volumes are listed only when asked for');
  t.equal(s.list(['deleted']).length, 1);
});

t.test('snapshots: pending, then completed or error', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  const s = new VolumeStore(db);
  s.insertSnapshot({ snapshotId: 'snap-00000000000000001', volumeId: 'vol-00000000000000003', sizeGiB: 4, description: 'd' });
  t.equal(s.getSnapshot('snap-00000000000000001')?.state, 'pending');
  t.match(s.finishSnapshot('snap-00000000000000001', 'completed'), { state: 'completed', volumeSizeGiB: 4 });
  t.equal(s.listSnapshots('vol-00000000000000003').length, 1);
  s.deleteSnapshot('snap-00000000000000001');
  t.same(s.listSnapshots(), []);
});

// Opening the store: file location, WAL, migrations applied once and in order.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, migrate, schemaVersion, DB_FILE_NAME, MIGRATIONS } from '../../../src/control-plane/state/db.ts';

t.test('creates <dataDir>/control-plane.sqlite in WAL mode at the latest schema version', async (t) => {
  const dir = join(t.testdir(), 'nested', 'data');
  const db = openDb(dir);
  t.teardown(() => db.close());
  t.ok(existsSync(join(dir, DB_FILE_NAME)));
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
});

t.test('reopening applies nothing twice; new migrations are applied in version order', async (t) => {
  const dir = t.testdir();
  openDb(dir).close();
  const db = openDb(dir);
  t.teardown(() => db.close());
  t.same(migrate(db, MIGRATIONS), []);
  const latest = MIGRATIONS.at(-1)!.version;
  const more = [
    ...MIGRATIONS,
    { version: latest + 2, name: 'c', sql: 'ALTER TABLE t2 ADD COLUMN y INTEGER' },
    { version: latest + 1, name: 'b', sql: 'CREATE TABLE t2 (x INTEGER)' },
  ];
  t.same(migrate(db, more), [latest + 1, latest + 2]);
  t.equal(schemaVersion(db), latest + 2);
});

t.test('a failing migration leaves the version where it was', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  const latest = MIGRATIONS.at(-1)!.version;
  t.throws(() => migrate(db, [...MIGRATIONS, { version: latest + 1, name: 'bad', sql: 'CREATE TABLE x (a); SELECT nonsense FROM nowhere' }]));
  t.equal(schemaVersion(db), latest);
  t.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'x'").get() as { n: number }).n, 0, 'its DDL rolled back too');
});

// The control plane's SQLite store: opens <dataDir>/control-plane.sqlite in WAL mode and applies migrations in order.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type Db = Database.Database;

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/** `db.prepare(sql)`, compiled once per database and SQL text and reused: preparing on every call was 11–13 % of the
 *  control plane's CPU under concurrent launches (docs/performance.md §5). */
export function prepared(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
  }
  let st = cache.get(sql);
  if (st === undefined) {
    st = db.prepare(sql);
    cache.set(sql, st);
  }
  return st;
}

export const DB_FILE_NAME = 'control-plane.sqlite';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Append-only: never edit a migration that has shipped, add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'instances, transitions, volumes, console cache',
    sql: `
      CREATE TABLE instances (
        id            TEXT PRIMARY KEY,
        seq           INTEGER NOT NULL UNIQUE,
        instance_type TEXT NOT NULL,
        host_id       TEXT NOT NULL,
        vcpus         INTEGER NOT NULL,
        mem_mib       INTEGER NOT NULL,
        state_name    TEXT NOT NULL,
        state_code    INTEGER NOT NULL,
        state_reason  TEXT,
        launch_time   TEXT NOT NULL,
        user_data     TEXT NOT NULL,
        refreshed_at  TEXT
      );
      CREATE INDEX instances_state ON instances(state_name);
      CREATE TABLE instance_transitions (
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        state_name  TEXT NOT NULL,
        state_code  INTEGER NOT NULL,
        reason      TEXT,
        at          TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
      );
      CREATE TABLE volumes (
        id                    TEXT PRIMARY KEY,
        instance_id           TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        size_gib              INTEGER NOT NULL,
        device_name           TEXT NOT NULL,
        delete_on_termination INTEGER NOT NULL,
        state                 TEXT NOT NULL,
        created_at            TEXT NOT NULL
      );
      CREATE INDEX volumes_instance ON volumes(instance_id);
      CREATE TABLE console_cache (
        instance_id TEXT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
        data        TEXT NOT NULL,
        next_offset INTEGER NOT NULL,
        fetched_at  TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'volumes as resources (detachable, typed, from snapshots), attachment state, snapshots',
    // SQLite cannot drop NOT NULL: the volumes table is rebuilt with instance_id nullable (a detached volume has none).
    sql: `
      CREATE TABLE volumes_v2 (
        id                    TEXT PRIMARY KEY,
        instance_id           TEXT REFERENCES instances(id) ON DELETE CASCADE,
        size_gib              INTEGER NOT NULL,
        device_name           TEXT,
        delete_on_termination INTEGER NOT NULL,
        state                 TEXT NOT NULL,
        created_at            TEXT NOT NULL,
        volume_type           TEXT NOT NULL DEFAULT 'gp3',
        iops                  INTEGER NOT NULL DEFAULT 3000,
        throughput            INTEGER NOT NULL DEFAULT 125,
        snapshot_id           TEXT,
        attach_state          TEXT,
        attach_time           TEXT,
        state_reason          TEXT
      );
      INSERT INTO volumes_v2 (id, instance_id, size_gib, device_name, delete_on_termination, state, created_at, attach_state, attach_time)
        SELECT id, instance_id, size_gib, device_name, delete_on_termination, state, created_at,
               CASE state WHEN 'in-use' THEN 'attached' ELSE NULL END, CASE state WHEN 'in-use' THEN created_at ELSE NULL END
        FROM volumes;
      DROP TABLE volumes;
      ALTER TABLE volumes_v2 RENAME TO volumes;
      CREATE INDEX volumes_instance ON volumes(instance_id);
      CREATE TABLE snapshots (
        id           TEXT PRIMARY KEY,
        volume_id    TEXT NOT NULL,
        size_gib     INTEGER NOT NULL,
        state        TEXT NOT NULL,
        description  TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        completed_at TEXT,
        state_reason TEXT
      );
    `,
  },
  {
    version: 3,
    name: 'instance metadata options (IMDS: httpTokens, hop limit, endpoint) as JSON; NULL = the defaults',
    sql: 'ALTER TABLE instances ADD COLUMN metadata_options TEXT;',
  },
  {
    version: 4,
    name: 'extra teaching devices of an instance (e.g. ["edu"]) as JSON; NULL = none',
    sql: 'ALTER TABLE instances ADD COLUMN devices TEXT;',
  },
];

/** Open (creating if needed) the store under `dataDir`; `':memory:'` opens a throwaway in-memory store. */
export function openDb(dataDir: string, migrations: readonly Migration[] = MIGRATIONS): Db {
  let db: Db;
  if (dataDir === ':memory:') {
    db = new Database(':memory:');
  } else {
    mkdirSync(dataDir, { recursive: true });
    db = new Database(join(dataDir, DB_FILE_NAME));
    db.pragma('journal_mode = WAL');
  }
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

/** Apply every migration newer than the store's version, each in its own transaction. Returns versions applied. */
export function migrate(db: Db, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}

export function schemaVersion(db: Db): number {
  return (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
}

// Instances, their volumes and their state history, persisted in SQLite. Every write is one transaction.
import { prepared, type Db } from './db.ts';
import { instanceState, isFinalState, INSTANCE_STATE_CODES } from '../instance-state.ts';
import type { InstanceState, InstanceStateName } from '../instance-state.ts';
import { parseStoredMetadataOptions, type MetadataOptions } from '../metadata-options.ts';

export type VolumeState = 'in-use' | 'available' | 'deleted';

export interface VolumeRecord {
  volumeId: string;
  sizeGiB: number;
  deviceName: string;
  deleteOnTermination: boolean;
  state: VolumeState;
  createTime: string;
}

export interface StateTransition {
  name: InstanceStateName;
  code: number;
  reason: string | null;
  at: string;
}

export interface InstanceRecord {
  instanceId: string;
  instanceType: string;
  hostId: string;
  vcpus: number;
  memMiB: number;
  state: InstanceState;
  stateReason: string | null;
  launchTime: string;
  userData: string;
  /** IMDS settings (EC2 MetadataOptions). */
  metadataOptions: MetadataOptions;
  /** Extra teaching devices on the card (docs/labs/edu-device.md); empty = none. */
  devices: TeachingDevice[];
  volumes: VolumeRecord[];
  transitions: StateTransition[];
  /** Last time the card confirmed the state; null if it never has. */
  refreshedAt: string | null;
}

export interface NewInstance {
  instanceId: string;
  instanceType: string;
  hostId: string;
  vcpus: number;
  memMiB: number;
  userData: string;
  volumes: Array<{ volumeId: string; sizeGiB: number; deviceName: string; deleteOnTermination: boolean }>;
  /** Absent = the defaults. */
  metadataOptions?: MetadataOptions;
  devices?: TeachingDevice[];
}

/** The teaching devices a card can add to an instance (src/devices/edu). */
export type TeachingDevice = 'edu';

interface InstanceRow {
  id: string; instance_type: string; host_id: string; vcpus: number; mem_mib: number; state_name: InstanceStateName;
  state_reason: string | null; launch_time: string; user_data: string; refreshed_at: string | null; metadata_options: string | null;
  devices: string | null;
}
interface VolumeRow {
  id: string; size_gib: number; device_name: string; delete_on_termination: number; state: VolumeState; created_at: string;
}
interface TransitionRow { state_name: InstanceStateName; state_code: number; reason: string | null; at: string }

export class InstanceStore {
  readonly #db: Db;
  readonly #now: () => string;

  constructor(db: Db, now: () => string = () => new Date().toISOString()) {
    this.#db = db;
    this.#now = now;
  }

  /** Record a batch of launches as `pending`, all or none. */
  insertPending(batch: readonly NewInstance[]): void {
    const at = this.#now();
    const seq = prepared(this.#db, 'SELECT COALESCE(MAX(seq), 0) AS s FROM instances');
    const ins = prepared(this.#db, `INSERT INTO instances
      (id, seq, instance_type, host_id, vcpus, mem_mib, state_name, state_code, state_reason, launch_time, user_data)
      VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?, ?)`);
    const tr = prepared(this.#db, `INSERT INTO instance_transitions (instance_id, seq, state_name, state_code, reason, at)
      VALUES (?, 1, 'pending', 0, NULL, ?)`);
    const vol = prepared(this.#db, `INSERT INTO volumes (id, instance_id, size_gib, device_name, delete_on_termination, state, created_at)
      VALUES (?, ?, ?, ?, ?, 'in-use', ?)`);
    this.#db.transaction(() => {
      for (const n of batch) {
        const next = (seq.get() as { s: number }).s + 1;
        ins.run(n.instanceId, next, n.instanceType, n.hostId, n.vcpus, n.memMiB, at, n.userData);
        if (n.metadataOptions) this.setMetadataOptions(n.instanceId, n.metadataOptions); // a separate statement: the column is from migration 3
        if (n.devices?.length) prepared(this.#db, 'UPDATE instances SET devices = ? WHERE id = ?').run(JSON.stringify(n.devices), n.instanceId);
        tr.run(n.instanceId, at);
        for (const v of n.volumes) vol.run(v.volumeId, n.instanceId, v.sizeGiB, v.deviceName, v.deleteOnTermination ? 1 : 0, at);
      }
    })();
  }

  /** Forget launches that never happened (the card refused them): rows, volumes and history go. */
  rollback(instanceIds: readonly string[]): void {
    const del = prepared(this.#db, 'DELETE FROM instances WHERE id = ?');
    this.#db.transaction(() => { for (const id of instanceIds) del.run(id); })();
  }

  get(instanceId: string): InstanceRecord | undefined {
    const row = prepared(this.#db, 'SELECT * FROM instances WHERE id = ?').get(instanceId) as InstanceRow | undefined;
    return row && this.#hydrate(row);
  }

  /** All instances in launch order, optionally only those in the given states. */
  list(states?: readonly InstanceStateName[]): InstanceRecord[] {
    const rows = (states && states.length > 0
      ? prepared(this.#db, `SELECT * FROM instances WHERE state_name IN (${states.map(() => '?').join(',')}) ORDER BY seq`).all(...states)
      : prepared(this.#db, 'SELECT * FROM instances ORDER BY seq').all()) as InstanceRow[];
    return rows.map((r) => this.#hydrate(r));
  }

  /**
   * Move an instance to `name` (a no-op if it is already there with the same reason). Leaving `terminated` is refused:
   * it is final. Entering it releases the volumes: deleted if deleteOnTermination, else available.
   */
  transition(instanceId: string, name: InstanceStateName, reason: string | null, confirmedByCard = false, when?: string): InstanceRecord {
    const now = this.#now();
    const at = when ?? now;
    this.#db.transaction(() => {
      const row = prepared(this.#db, 'SELECT state_name, state_reason FROM instances WHERE id = ?').get(instanceId) as
        { state_name: InstanceStateName; state_reason: string | null } | undefined;
      if (!row) throw new Error(`transition of unknown instance ${instanceId}`);
      if (confirmedByCard) prepared(this.#db, 'UPDATE instances SET refreshed_at = ? WHERE id = ?').run(now, instanceId);
      if (row.state_name === name && row.state_reason === reason) return;
      if (isFinalState(row.state_name)) throw new Error(`instance ${instanceId} is terminated; cannot move to ${name}`);
      const code = INSTANCE_STATE_CODES[name];
      prepared(this.#db, 'UPDATE instances SET state_name = ?, state_code = ?, state_reason = ? WHERE id = ?')
        .run(name, code, reason, instanceId);
      if (row.state_name !== name) {
        prepared(this.#db, `INSERT INTO instance_transitions (instance_id, seq, state_name, state_code, reason, at)
          SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM instance_transitions WHERE instance_id = ?`)
          .run(instanceId, name, code, reason, at, instanceId);
      }
      if (name === 'terminated') {
        prepared(this.#db, `UPDATE volumes SET state = CASE delete_on_termination WHEN 1 THEN 'deleted' ELSE 'available' END
          WHERE instance_id = ?`).run(instanceId);
      }
    })();
    const rec = this.get(instanceId);
    if (!rec) throw new Error(`instance ${instanceId} vanished during transition`);
    return rec;
  }

  /** ModifyInstanceMetadataOptions: store what the card now enforces. */
  setMetadataOptions(instanceId: string, options: MetadataOptions): void {
    prepared(this.#db, 'UPDATE instances SET metadata_options = ? WHERE id = ?').run(JSON.stringify(options), instanceId);
  }

  /** Note that the card confirmed the stored state just now. */
  markRefreshed(instanceId: string): void {
    prepared(this.#db, 'UPDATE instances SET refreshed_at = ? WHERE id = ?').run(this.#now(), instanceId);
  }

  /** How many instances are in each state. */
  countByState(): Partial<Record<InstanceStateName, number>> {
    const rows = prepared(this.#db, 'SELECT state_name, COUNT(*) AS n FROM instances GROUP BY state_name').all() as
      Array<{ state_name: InstanceStateName; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state_name, r.n]));
  }

  #hydrate(row: InstanceRow): InstanceRecord {
    const vols = prepared(this.#db, 'SELECT * FROM volumes WHERE instance_id = ? ORDER BY device_name').all(row.id) as VolumeRow[];
    const trs = prepared(this.#db, 'SELECT state_name, state_code, reason, at FROM instance_transitions WHERE instance_id = ? ORDER BY seq')
      .all(row.id) as TransitionRow[];
    return {
      instanceId: row.id,
      instanceType: row.instance_type,
      hostId: row.host_id,
      vcpus: row.vcpus,
      memMiB: row.mem_mib,
      state: instanceState(row.state_name),
      stateReason: row.state_reason,
      launchTime: row.launch_time,
      userData: row.user_data,
      metadataOptions: parseStoredMetadataOptions(row.metadata_options),
      devices: row.devices ? (JSON.parse(row.devices) as TeachingDevice[]).filter((d) => d === 'edu') : [],
      volumes: vols.map((v) => ({
        volumeId: v.id, sizeGiB: v.size_gib, deviceName: v.device_name,
        deleteOnTermination: v.delete_on_termination === 1, state: v.state, createTime: v.created_at,
      })),
      transitions: trs.map((t) => ({ name: t.state_name, code: t.state_code, reason: t.reason, at: t.at })),
      refreshedAt: row.refreshed_at,
    };
  }
}

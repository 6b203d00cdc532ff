// EBS volumes and snapshots as resources, in the control plane's SQLite store (migration 2 in db.ts). A volume row is
// the same row InstanceStore shows under an instance while attached: `instance_id` is the instance it is (or was last,
// when terminated) attached to, NULL once detached. Every write is one statement or one transaction.
import { prepared, type Db } from './db.ts';
import type { VolumeType } from '../volume-types.ts';

/** EC2 volume states. */
export type VolumeStateName = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
/** EC2 attachment states. */
export type AttachStateName = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';
export type SnapshotStateName = 'pending' | 'completed' | 'error';

export interface Attachment {
  instanceId: string;
  device: string;
  state: AttachStateName;
  attachTime: string;
  deleteOnTermination: boolean;
}

export interface VolumeResource {
  volumeId: string;
  sizeGiB: number;
  volumeType: VolumeType;
  iops: number;
  throughput: number;
  snapshotId: string | null;
  state: VolumeStateName;
  stateReason: string | null;
  createTime: string;
  attachments: Attachment[];
}

export interface SnapshotResource {
  snapshotId: string;
  volumeId: string;
  volumeSizeGiB: number;
  state: SnapshotStateName;
  stateReason: string | null;
  description: string;
  startTime: string;
  completionTime: string | null;
}

interface VolumeRow {
  id: string; instance_id: string | null; size_gib: number; device_name: string | null; delete_on_termination: number;
  state: VolumeStateName; created_at: string; volume_type: VolumeType; iops: number; throughput: number;
  snapshot_id: string | null; attach_state: AttachStateName | null; attach_time: string | null; state_reason: string | null;
}
interface SnapshotRow {
  id: string; volume_id: string; size_gib: number; state: SnapshotStateName; description: string; started_at: string;
  completed_at: string | null; state_reason: string | null;
}

function toVolume(r: VolumeRow): VolumeResource {
  // Volumes created at launch are inserted by InstanceStore without an attach_state: they are attached.
  const attached = r.instance_id !== null && r.state === 'in-use';
  return {
    volumeId: r.id, sizeGiB: r.size_gib, volumeType: r.volume_type, iops: r.iops, throughput: r.throughput,
    snapshotId: r.snapshot_id, state: r.state, stateReason: r.state_reason, createTime: r.created_at,
    attachments: attached ? [{
      instanceId: r.instance_id as string, device: r.device_name ?? '', state: r.attach_state ?? 'attached',
      attachTime: r.attach_time ?? r.created_at, deleteOnTermination: r.delete_on_termination === 1,
    }] : [],
  };
}

function toSnapshot(r: SnapshotRow): SnapshotResource {
  return {
    snapshotId: r.id, volumeId: r.volume_id, volumeSizeGiB: r.size_gib, state: r.state, stateReason: r.state_reason,
    description: r.description, startTime: r.started_at, completionTime: r.completed_at,
  };
}

export class VolumeStore {
  readonly #db: Db;
  readonly #now: () => string;

  constructor(db: Db, now: () => string = () => new Date().toISOString()) {
    this.#db = db;
    this.#now = now;
  }

  insert(v: { volumeId: string; sizeGiB: number; volumeType: VolumeType; iops: number; throughput: number; snapshotId: string | null }): VolumeResource {
    prepared(this.#db, `INSERT INTO volumes (id, instance_id, size_gib, device_name, delete_on_termination, state, created_at,
        volume_type, iops, throughput, snapshot_id) VALUES (?, NULL, ?, NULL, 0, 'creating', ?, ?, ?, ?, ?)`)
      .run(v.volumeId, v.sizeGiB, this.#now(), v.volumeType, v.iops, v.throughput, v.snapshotId);
    return this.mustGet(v.volumeId);
  }

  get(volumeId: string): VolumeResource | undefined {
    const r = prepared(this.#db, 'SELECT * FROM volumes WHERE id = ?').get(volumeId) as VolumeRow | undefined;
    return r && toVolume(r);
  }

  mustGet(volumeId: string): VolumeResource {
    const v = this.get(volumeId);
    if (!v) throw new Error(`volume ${volumeId} vanished`);
    return v;
  }

  /** Every volume not deleted (or only the given states), oldest first. */
  list(states?: readonly VolumeStateName[]): VolumeResource[] {
    const rows = (states && states.length > 0
      ? prepared(this.#db, `SELECT * FROM volumes WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created_at, id`).all(...states)
      : prepared(this.#db, "SELECT * FROM volumes WHERE state != 'deleted' ORDER BY created_at, id").all()) as VolumeRow[];
    return rows.map(toVolume);
  }

  /** Volumes of an instance that are attached or being attached/detached. */
  attachedTo(instanceId: string): VolumeResource[] {
    return (prepared(this.#db, "SELECT * FROM volumes WHERE instance_id = ? AND state = 'in-use' ORDER BY device_name").all(instanceId) as VolumeRow[]).map(toVolume);
  }

  /** Volumes of an instance in state `deleted` (deleteOnTermination after terminate). */
  deletedWith(instanceId: string): string[] {
    return (prepared(this.#db, "SELECT id FROM volumes WHERE instance_id = ? AND state = 'deleted'").all(instanceId) as { id: string }[]).map((r) => r.id);
  }

  /** Set the volume state. A volume being deleted leaves the record of the (terminated) instance it was last on. */
  setState(volumeId: string, state: VolumeStateName, reason: string | null = null): VolumeResource {
    if (state === 'deleting') prepared(this.#db, 'UPDATE volumes SET instance_id = NULL, device_name = NULL, attach_state = NULL WHERE id = ?').run(volumeId);
    prepared(this.#db, 'UPDATE volumes SET state = ?, state_reason = ? WHERE id = ?').run(state, reason, volumeId);
    return this.mustGet(volumeId);
  }

  /**
   * Claim an available volume for `instanceId` at `device` (attaching), all or nothing: false when the volume is no
   * longer available (a concurrent attach or delete won).
   */
  beginAttach(volumeId: string, instanceId: string, device: string): boolean {
    const r = prepared(this.#db, `UPDATE volumes SET state = 'in-use', instance_id = ?, device_name = ?, attach_state = 'attaching',
        attach_time = ?, delete_on_termination = 0, state_reason = NULL WHERE id = ? AND state = 'available'`)
      .run(instanceId, device, this.#now(), volumeId);
    return r.changes === 1;
  }

  setAttachState(volumeId: string, state: AttachStateName): VolumeResource {
    prepared(this.#db, 'UPDATE volumes SET attach_state = ? WHERE id = ?').run(state, volumeId);
    return this.mustGet(volumeId);
  }

  /** Detached (or the attach failed): available again, no instance. */
  release(volumeId: string, reason: string | null = null): VolumeResource {
    prepared(this.#db, `UPDATE volumes SET state = 'available', instance_id = NULL, device_name = NULL, attach_state = NULL,
        attach_time = NULL, delete_on_termination = 0, state_reason = ? WHERE id = ?`).run(reason, volumeId);
    return this.mustGet(volumeId);
  }

  /** Device names in use on an instance (attached or in transition). */
  devicesOf(instanceId: string): string[] {
    return (prepared(this.#db, "SELECT device_name FROM volumes WHERE instance_id = ? AND state = 'in-use'").all(instanceId) as { device_name: string | null }[])
      .flatMap((r) => (r.device_name ? [r.device_name] : []));
  }

  insertSnapshot(s: { snapshotId: string; volumeId: string; sizeGiB: number; description: string }): SnapshotResource {
    prepared(this.#db, `INSERT INTO snapshots (id, volume_id, size_gib, state, description, started_at) VALUES (?, ?, ?, 'pending', ?, ?)`)
      .run(s.snapshotId, s.volumeId, s.sizeGiB, s.description, this.#now());
    return this.mustGetSnapshot(s.snapshotId);
  }

  finishSnapshot(snapshotId: string, state: 'completed' | 'error', reason: string | null = null): SnapshotResource {
    prepared(this.#db, 'UPDATE snapshots SET state = ?, state_reason = ?, completed_at = ? WHERE id = ?').run(state, reason, this.#now(), snapshotId);
    return this.mustGetSnapshot(snapshotId);
  }

  getSnapshot(snapshotId: string): SnapshotResource | undefined {
    const r = prepared(this.#db, 'SELECT * FROM snapshots WHERE id = ?').get(snapshotId) as SnapshotRow | undefined;
    return r && toSnapshot(r);
  }

  mustGetSnapshot(snapshotId: string): SnapshotResource {
    const s = this.getSnapshot(snapshotId);
    if (!s) throw new Error(`snapshot ${snapshotId} vanished`);
    return s;
  }

  listSnapshots(volumeId?: string): SnapshotResource[] {
    const rows = (volumeId === undefined
      ? prepared(this.#db, 'SELECT * FROM snapshots ORDER BY started_at, id').all()
      : prepared(this.#db, 'SELECT * FROM snapshots WHERE volume_id = ? ORDER BY started_at, id').all(volumeId)) as SnapshotRow[];
    return rows.map(toSnapshot);
  }

  deleteSnapshot(snapshotId: string): void {
    prepared(this.#db, 'DELETE FROM snapshots WHERE id = ?').run(snapshotId);
  }
}

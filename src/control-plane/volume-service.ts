// EBS volume lifecycle (EC2 CreateVolume, DeleteVolume, AttachVolume, DetachVolume, CreateSnapshot): the control
// plane owns it. It creates and deletes exports on the block store, asks the instance's card to connect to (hot-plug)
// or disconnect from an export, and keeps every state in SQLite. Volumes created at launch get their exports through
// InstanceService's launch hooks; volumes deleted on termination lose their exports when the instance is terminated.
//   volume:     creating → available ⇄ in-use → deleting → deleted   (error when the block store refused)
//   attachment: attaching → attached → detaching → (detached: the attachment is gone)
import type { FastifyBaseLogger } from 'fastify';
import type { BlockStoreAdmin } from '../blockstore/admin.ts';
import type { CardRegistry } from './cards.ts';
import type { CardVolumeStats } from './card-contract.ts';
import { CardRequestError } from './card-client.ts';
import { ApiError } from './errors.ts';
import { newVolumeId } from './ids.ts';
import { cardErrorToApi, type InstanceService } from './instance-service.ts';
import type { InstanceStore } from './state/instance-store.ts';
import type { SnapshotResource, VolumeResource, VolumeStore } from './state/volume-store.ts';
import { normaliseVolumeSpec, type VolumeSpecInput } from './volume-types.ts';
import { DEVICE_NAME_PATTERN } from './volumes.ts';
import { randomBytes } from 'node:crypto';

const GiB = 1024 ** 3;
const deviceRe = new RegExp(DEVICE_NAME_PATTERN);
/** Instance states a volume can be attached in (EC2: running or stopped; pending here too, the card has it). */
const ATTACHABLE = new Set(['pending', 'running', 'stopped']);

export type VolumeView = VolumeResource & { nbdUrl?: string };

export function newSnapshotId(): string {
  return `snap-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export class VolumeService {
  readonly #volumes: VolumeStore;
  readonly #instances: InstanceStore;
  readonly #cards: CardRegistry;
  readonly #bs: BlockStoreAdmin | undefined;
  readonly #log: FastifyBaseLogger;
  /** Volumes with a card call in progress: a second attach/detach/delete of the same volume waits its turn. */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(deps: { volumes: VolumeStore; instances: InstanceStore; cards: CardRegistry; blockStore: BlockStoreAdmin | undefined; log: FastifyBaseLogger; service: InstanceService }) {
    this.#volumes = deps.volumes;
    this.#instances = deps.instances;
    this.#cards = deps.cards;
    this.#bs = deps.blockStore;
    this.#log = deps.log;
    const bs = this.#bs;
    if (bs !== undefined) {
      deps.service.setVolumeHooks({
        created: async (vols) => {
          const made: string[] = [];
          try {
            for (const v of vols) { await bs.createExport(v.volumeId, v.sizeBytes); made.push(v.volumeId); }
          } catch (e) {
            for (const id of made) await bs.deleteExport(id).catch(() => {});
            throw new ApiError('BlockStoreUnavailable', `Could not create the launch volumes' exports: ${(e as Error).message}`, { cause: e });
          }
        },
        forgotten: async (ids) => { for (const id of ids) await bs.deleteExport(id); },
      });
      deps.service.onStateChange((c) => {
        if (c.current === 'terminated') void this.#releaseTerminated(c.instanceId);
      });
    }
  }

  /** The block store, or BlockStoreUnavailable (a control plane started without one serves no volume resources). */
  #blockStore(): BlockStoreAdmin {
    if (this.#bs === undefined) throw new ApiError('BlockStoreUnavailable', 'This control plane has no block store (start it with nitrolab up)');
    return this.#bs;
  }

  view(v: VolumeResource): VolumeView {
    const live = v.state === 'available' || v.state === 'in-use';
    return live && this.#bs !== undefined ? { ...v, nbdUrl: this.#bs.url(v.volumeId) } : v;
  }

  list(states?: VolumeResource['state'][]): VolumeView[] {
    return this.#volumes.list(states).map((v) => this.view(v));
  }

  get(volumeId: string): VolumeView {
    return this.view(this.#mustGet(volumeId));
  }

  /** CreateVolume: the export exists (sparse, or a copy of the snapshot) when this resolves. */
  async create(input: VolumeSpecInput & { snapshotId?: string | undefined }): Promise<VolumeView> {
    const bs = this.#blockStore();
    let snap: SnapshotResource | undefined;
    if (input.snapshotId !== undefined) {
      snap = this.#mustGetSnapshot(input.snapshotId);
      if (snap.state !== 'completed') throw new ApiError('IncorrectState', `Snapshot ${snap.snapshotId} is ${snap.state}, not completed`);
    }
    const spec = normaliseVolumeSpec(input, snap?.volumeSizeGiB ?? 0);
    const volumeId = newVolumeId();
    this.#volumes.insert({ volumeId, ...spec, snapshotId: snap?.snapshotId ?? null });
    try {
      if (snap) await bs.createFromSnapshot(volumeId, snap.snapshotId, spec.sizeGiB * GiB);
      else await bs.createExport(volumeId, spec.sizeGiB * GiB);
    } catch (e) {
      this.#log.warn({ event: 'volume-create-failed', volumeId, err: (e as Error).message }, 'block store refused the volume');
      this.#volumes.setState(volumeId, 'error', `Server.BlockStoreError: ${(e as Error).message}`);
      throw new ApiError('BlockStoreUnavailable', `Volume ${volumeId} could not be created: ${(e as Error).message}`, { cause: e });
    }
    this.#log.info({ event: 'volume-created', volumeId, ...spec, snapshotId: snap?.snapshotId }, 'volume created');
    return this.view(this.#volumes.setState(volumeId, 'available'));
  }

  /** DeleteVolume: only an available (or failed) volume; its export and data are gone when this resolves. */
  delete(volumeId: string): Promise<VolumeView> {
    return this.#serial(volumeId, async () => {
      const v = this.#mustGet(volumeId);
      if (v.state === 'in-use') throw new ApiError('VolumeInUse', `Volume ${volumeId} is attached to ${v.attachments[0]?.instanceId ?? 'an instance'}; detach it first`);
      if (v.state === 'deleted') return this.view(v);
      if (v.state !== 'available' && v.state !== 'error') throw new ApiError('IncorrectState', `Volume ${volumeId} is ${v.state}`);
      const bs = this.#blockStore();
      this.#volumes.setState(volumeId, 'deleting');
      try {
        await bs.deleteExport(volumeId);
      } catch (e) {
        this.#volumes.setState(volumeId, v.state, v.stateReason);
        throw new ApiError('BlockStoreUnavailable', `Volume ${volumeId} could not be deleted: ${(e as Error).message}`, { cause: e });
      }
      this.#log.info({ event: 'volume-deleted', volumeId }, 'volume deleted');
      return this.view(this.#volumes.setState(volumeId, 'deleted'));
    });
  }

  /** AttachVolume: hot-plug onto the instance's card; in-use/attached when the card has the namespace up. */
  attach(volumeId: string, instanceId: string, device: string): Promise<VolumeView> {
    return this.#serial(volumeId, async () => {
      const v = this.#mustGet(volumeId);
      if (v.state === 'in-use') throw new ApiError('VolumeInUse', `Volume ${volumeId} is already attached to ${v.attachments[0]?.instanceId ?? 'an instance'}`);
      if (v.state !== 'available') throw new ApiError('IncorrectState', `Volume ${volumeId} is ${v.state}, not available`);
      const inst = this.#instances.get(instanceId);
      if (!inst) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID ${JSON.stringify(instanceId)} does not exist`);
      if (!ATTACHABLE.has(inst.state.name)) throw new ApiError('IncorrectInstanceState', `The instance ${instanceId} is ${inst.state.name}; volumes attach to pending, running or stopped instances`);
      if (!deviceRe.test(device)) throw new ApiError('InvalidParameterValue', `deviceName ${JSON.stringify(device)} is not /dev/sd[b-z] or /dev/xvd[b-z]`);
      const taken = new Set([...this.#volumes.devicesOf(instanceId), ...inst.volumes.filter((x) => x.state === 'in-use').map((x) => x.deviceName)]);
      if (taken.has(device)) throw new ApiError('InvalidParameterValue', `deviceName ${device} is already in use on ${instanceId}`);
      if (!this.#volumes.beginAttach(volumeId, instanceId, device)) throw new ApiError('IncorrectState', `Volume ${volumeId} is no longer available`);
      const card = this.#cards.get(inst.hostId);
      try {
        const at = await card.attachVolume(instanceId, {
          volumeId, sizeBytes: v.sizeGiB * GiB, deviceName: device, iops: v.iops, throughputMiBps: v.throughput,
        });
        this.#log.info({ event: 'volume-attached', volumeId, instanceId, device, fn: at.fn, nsid: at.nsid }, 'volume attached');
        return this.view(this.#volumes.setAttachState(volumeId, 'attached'));
      } catch (e) {
        // An attach whose outcome is unknown may have happened: undo it on the card before calling it failed.
        if (e instanceof CardRequestError && e.failure === 'unknown') await card.detachVolume(instanceId, volumeId).catch(() => {});
        this.#volumes.release(volumeId, `Client.AttachFailed: ${(e as Error).message}`);
        throw this.#cardError(e);
      }
    });
  }

  /** DetachVolume: the card removes the namespace, lets in-flight I/O finish, closes the export; then available. */
  detach(volumeId: string): Promise<VolumeView> {
    return this.#serial(volumeId, async () => {
      const v = this.#mustGet(volumeId);
      const att = v.attachments[0];
      if (v.state !== 'in-use' || att === undefined) throw new ApiError('IncorrectState', `Volume ${volumeId} is ${v.state}, not attached`);
      const inst = this.#instances.get(att.instanceId);
      this.#volumes.setAttachState(volumeId, 'detaching');
      if (inst !== undefined && inst.state.name !== 'terminated') {
        try {
          await this.#cards.get(inst.hostId).detachVolume(att.instanceId, volumeId);
        } catch (e) {
          const gone = e instanceof CardRequestError && e.failure === 'rejected' && (e.cardCode === 'InstanceNotFound' || e.cardCode === 'VolumeNotAttached');
          if (!gone) {
            this.#volumes.setAttachState(volumeId, att.state);
            throw this.#cardError(e);
          }
        }
      }
      this.#log.info({ event: 'volume-detached', volumeId, instanceId: att.instanceId }, 'volume detached');
      return this.view(this.#volumes.release(volumeId));
    });
  }

  /** CreateSnapshot: a full copy of the volume's current contents (blockstore/admin.ts explains why). */
  async snapshot(volumeId: string, description: string): Promise<SnapshotResource> {
    const v = this.#mustGet(volumeId);
    if (v.state !== 'available' && v.state !== 'in-use') throw new ApiError('IncorrectState', `Volume ${volumeId} is ${v.state}`);
    const bs = this.#blockStore();
    const snapshotId = newSnapshotId();
    this.#volumes.insertSnapshot({ snapshotId, volumeId, sizeGiB: v.sizeGiB, description });
    try {
      await bs.snapshot(volumeId, snapshotId);
    } catch (e) {
      this.#log.warn({ event: 'snapshot-failed', snapshotId, volumeId, err: (e as Error).message }, 'snapshot failed');
      return this.#volumes.finishSnapshot(snapshotId, 'error', `Server.BlockStoreError: ${(e as Error).message}`);
    }
    this.#log.info({ event: 'snapshot-completed', snapshotId, volumeId }, 'snapshot completed');
    return this.#volumes.finishSnapshot(snapshotId, 'completed');
  }

  listSnapshots(volumeId?: string): SnapshotResource[] {
    return this.#volumes.listSnapshots(volumeId);
  }

  getSnapshot(snapshotId: string): SnapshotResource {
    return this.#mustGetSnapshot(snapshotId);
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    this.#mustGetSnapshot(snapshotId);
    await this.#blockStore().deleteSnapshot(snapshotId);
    this.#volumes.deleteSnapshot(snapshotId);
  }

  /** Per-volume statistics from the card (limits, time throttled), for an attached volume. */
  async stats(volumeId: string): Promise<CardVolumeStats> {
    const v = this.#mustGet(volumeId);
    const att = v.attachments[0];
    if (att === undefined) throw new ApiError('IncorrectState', `Volume ${volumeId} is not attached`);
    const inst = this.#instances.get(att.instanceId);
    if (!inst) throw new ApiError('IncorrectState', `Volume ${volumeId} is attached to an unknown instance`);
    try {
      const all = await this.#cards.get(inst.hostId).listVolumes(att.instanceId);
      const mine = all.find((x) => x.volumeId === volumeId);
      if (!mine) throw new ApiError('IncorrectState', `The card of ${att.instanceId} does not show ${volumeId}`);
      return mine;
    } catch (e) {
      throw this.#cardError(e);
    }
  }

  /** The instance is terminated: delete the exports of its deleteOnTermination volumes (already marked deleted). */
  async #releaseTerminated(instanceId: string): Promise<void> {
    const bs = this.#bs;
    if (bs === undefined) return;
    for (const volumeId of this.#volumes.deletedWith(instanceId)) {
      if (!bs.hasExport(volumeId)) continue;
      try {
        await bs.deleteExport(volumeId);
        this.#log.info({ event: 'volume-deleted-on-termination', volumeId, instanceId }, 'volume deleted with its instance');
      } catch (e) {
        this.#log.warn({ event: 'volume-delete-on-termination-failed', volumeId, instanceId, err: (e as Error).message }, 'could not delete a volume of a terminated instance');
      }
    }
  }

  #cardError(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e instanceof CardRequestError && e.failure === 'rejected') {
      if (e.cardCode === 'NoHotplugController') return new ApiError('IncorrectInstanceState', `Card ${e.hostId}: ${e.message}`, { cause: e });
      if (e.cardCode === 'AttachmentLimitExceeded') return new ApiError('AttachmentLimitExceeded', `Card ${e.hostId}: ${e.message}`, { cause: e });
      if (e.cardCode === 'VolumeInUse') return new ApiError('VolumeInUse', `Card ${e.hostId}: ${e.message}`, { cause: e });
    }
    if (e instanceof CardRequestError && e.cardCode === 'BlockStoreUnavailable') return new ApiError('BlockStoreUnavailable', `Card ${e.hostId}: ${e.message}`, { cause: e });
    return cardErrorToApi(e);
  }

  #serial<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#busy.get(volumeId) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.#busy.set(volumeId, tail);
    void tail.then(() => { if (this.#busy.get(volumeId) === tail) this.#busy.delete(volumeId); });
    return run;
  }

  #mustGet(volumeId: string): VolumeResource {
    const v = this.#volumes.get(volumeId);
    if (!v) throw new ApiError('InvalidVolume.NotFound', `The volume ${JSON.stringify(volumeId)} does not exist`);
    return v;
  }

  #mustGetSnapshot(snapshotId: string): SnapshotResource {
    const s = this.#volumes.getSnapshot(snapshotId);
    if (!s) throw new ApiError('InvalidSnapshot.NotFound', `The snapshot ${JSON.stringify(snapshotId)} does not exist`);
    return s;
  }
}

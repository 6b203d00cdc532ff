// Instance lifecycle: launch (validate, place, persist as pending, ask the card; all or nothing), describe with a
// refresh from the card, terminate, and console output. Routes stay thin; this is where the rules live.
import type { FastifyBaseLogger } from 'fastify';
import type { CardRegistry } from './cards.ts';
import { CardRequestError } from './card-client.ts';
import { ApiError } from './errors.ts';
import { findInstanceType } from './catalogue.ts';
import { newInstanceId, newVolumeId } from './ids.ts';
import { placeAll, largestFree } from './scheduler.ts';
import type { HostLoad } from './scheduler.ts';
import type { InstanceStore, InstanceRecord, NewInstance, TeachingDevice } from './state/instance-store.ts';
import type { ConsoleStore } from './state/console-store.ts';
import type { InstanceState, InstanceStateName } from './instance-state.ts';
import type { ControlPlaneMetrics } from './metrics.ts';
import { normaliseVolumes } from './volumes.ts';
import { missedSteps } from './card-transitions.ts';
import type { VpcService, CardLaunchNetwork } from './vpc/vpc-service.ts';
import type { VolumeRequest } from './volumes.ts';
import { DEFAULT_METADATA_OPTIONS, mergeMetadataOptions, type MetadataOptions, type MetadataOptionsInput } from './metadata-options.ts';

export interface LaunchInput {
  instanceType: string;
  count: number;
  userData: string;
  volumes: readonly VolumeRequest[];
  /** Security groups for the instance's ENI; default: the VPC's default group. */
  securityGroupIds?: readonly string[];
  /** The subnet the ENI's private IP comes from; default: the default VPC's subnet. */
  subnetId?: string;
  /** IMDS settings (EC2 MetadataOptions); members left out take the defaults. */
  metadataOptions?: MetadataOptionsInput;
  /** Teaching devices (docs/labs/edu-device.md), e.g. ['edu']. */
  devices?: readonly TeachingDevice[];
}

export interface StateChange {
  instanceId: string;
  /** null when the instance has just been launched. */
  previous: InstanceStateName | null;
  current: InstanceStateName;
  reason: string | null;
}

export interface TerminateResult {
  instanceId: string;
  previousState: InstanceState;
  currentState: InstanceState;
}

/** Storage for volumes created at launch (the block store's exports); the volume service installs these. */
export interface LaunchVolumeHooks {
  /** Before the cards are asked: create each volume's export. Throwing aborts the launch. */
  created(volumes: Array<{ volumeId: string; sizeBytes: number }>): Promise<void>;
  /** After a failed launch: the volumes of instances that were forgotten. */
  forgotten(volumeIds: string[]): Promise<void>;
}

export const USER_TERMINATE_REASON = 'Client.UserInitiatedShutdown: User initiated shutdown';
export const USER_STOP_REASON = USER_TERMINATE_REASON;

/** EC2's answer to a lifecycle call in the wrong state. */
function incorrectState(instanceId: string, state: InstanceStateName, op: string): ApiError {
  return new ApiError('IncorrectInstanceState', `The instance '${instanceId}' is ${state}; it is not in a state from which it can be ${op}`);
}
const GiB = 1024 ** 3;

/** Map a card failure onto the API catalogue. */
export function cardErrorToApi(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof CardRequestError) {
    if (e.failure === 'rejected' && (e.cardCode === 'InsufficientCapacity' || e.cardCode === 'Conflict')) {
      return new ApiError('InsufficientInstanceCapacity', `Card ${e.hostId} has no room: ${e.message}`, { cause: e });
    }
    if (e.failure === 'rejected' && e.cardCode === 'IncorrectInstanceState') {
      return new ApiError('IncorrectInstanceState', `Card ${e.hostId}: ${e.message}`, { cause: e });
    }
    if (e.failure === 'rejected' && e.cardCode === 'InvalidParameter') {
      return new ApiError('InvalidParameterValue', `Card ${e.hostId} rejected the request: ${e.message}`, { cause: e });
    }
    return new ApiError('CardUnavailable', e.message, { cause: e });
  }
  return new ApiError('InternalError', 'Internal error', { cause: e });
}

function isCardNotFound(e: unknown): boolean {
  return e instanceof CardRequestError && e.failure === 'rejected' && e.cardCode === 'InstanceNotFound';
}

export class InstanceService {
  readonly #store: InstanceStore;
  readonly #console: ConsoleStore;
  readonly #cards: CardRegistry;
  readonly #metrics: ControlPlaneMetrics;
  readonly #log: FastifyBaseLogger;
  readonly #vpc: VpcService | undefined;
  readonly #listeners = new Set<(c: StateChange) => void>();
  #launchQueue: Promise<unknown> = Promise.resolve();
  #volumeHooks: LaunchVolumeHooks | undefined;

  /** Give launches their volume storage (volume-service.ts). */
  setVolumeHooks(h: LaunchVolumeHooks): void {
    this.#volumeHooks = h;
  }

  constructor(deps: { store: InstanceStore; console: ConsoleStore; cards: CardRegistry; metrics: ControlPlaneMetrics; log: FastifyBaseLogger; vpc?: VpcService }) {
    this.#vpc = deps.vpc;
    this.#store = deps.store;
    this.#console = deps.console;
    this.#cards = deps.cards;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
  }

  /** Subscribe to state changes (for the panel); returns the unsubscribe function. */
  onStateChange(fn: (c: StateChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Launch `count` instances, all or none. Launches are serialised so two requests cannot both claim the same room. */
  launch(input: LaunchInput): Promise<InstanceRecord[]> {
    const type = findInstanceType(input.instanceType);
    if (!type) {
      return Promise.reject(new ApiError('InvalidInstanceType',
        `Instance type ${JSON.stringify(input.instanceType)} is not in the catalogue; see GET /v1/instance-types`));
    }
    let volumes: ReturnType<typeof normaliseVolumes>;
    try { volumes = normaliseVolumes(input.volumes); } catch (e) { return Promise.reject(e); }
    const run = this.#launchQueue.then(() => this.#launchLocked(input, type.vcpus, type.memMiB, volumes));
    this.#launchQueue = run.catch(() => undefined);
    return run;
  }

  async #launchLocked(input: LaunchInput, vcpus: number, memMiB: number, volumes: ReturnType<typeof normaliseVolumes>): Promise<InstanceRecord[]> {
    const survey = await this.#cards.survey();
    const up = survey.filter((s) => s.card !== undefined);
    if (survey.length > 0 && up.length === 0) {
      throw new ApiError('CardUnavailable', `No card answered: ${survey.map((s) => s.error).join('; ')}`);
    }
    const loads: HostLoad[] = up.map((s) => ({ hostId: s.hostId, capacity: s.card!.capacity, usage: s.card!.usage }));
    const placement = placeAll(loads, Array.from({ length: input.count }, () => ({ vcpus, memMiB })));
    if (!placement) {
      const free = largestFree(loads);
      throw new ApiError('InsufficientInstanceCapacity', `No room for ${input.count} × ${input.instanceType} (${vcpus} vCPU, ${memMiB} MiB each) ` +
        `on ${loads.length} reachable host(s); at most ${free.vcpus} vCPU and ${free.memMiB} MiB are free on any one host`);
    }
    const batch: NewInstance[] = placement.map((hostId) => ({
      instanceId: newInstanceId(), instanceType: input.instanceType, hostId, vcpus, memMiB, userData: input.userData,
      volumes: volumes.map((v) => ({ ...v, volumeId: newVolumeId() })),
      metadataOptions: mergeMetadataOptions(DEFAULT_METADATA_OPTIONS, input.metadataOptions),
      ...(input.devices?.length ? { devices: [...input.devices] } : {}),
    }));
    const nets = new Map<string, CardLaunchNetwork>();
    try {
      for (const n of batch) if (this.#vpc) nets.set(n.instanceId, this.#vpc.allocate(n.instanceId, n.instanceType, input.securityGroupIds, input.subnetId));
    } catch (e) {
      this.#vpc?.forget([...nets.keys()]);
      throw e;
    }
    this.#store.insertPending(batch);
    try {
      await this.#volumeHooks?.created(batch.flatMap((n) => n.volumes.map((v) => ({ volumeId: v.volumeId, sizeBytes: v.sizeGiB * GiB }))));
    } catch (e) {
      this.#store.rollback(batch.map((n) => n.instanceId));
      this.#vpc?.forget(batch.map((n) => n.instanceId));
      throw e;
    }

    const launched: NewInstance[] = [];
    const moves: Array<[string, InstanceStateName]> = [];
    for (const [i, n] of batch.entries()) {
      try {
        const reply = await this.#cards.get(n.hostId).launch({
          instanceId: n.instanceId, instanceType: n.instanceType, vcpus: n.vcpus, memMiB: n.memMiB, userData: n.userData,
          volumes: n.volumes.map((v) => ({ volumeId: v.volumeId, sizeBytes: v.sizeGiB * GiB, deviceName: v.deviceName, deleteOnTermination: v.deleteOnTermination })),
          ...(nets.has(n.instanceId) ? { network: nets.get(n.instanceId)! } : {}),
          ...(n.metadataOptions ? { metadataOptions: n.metadataOptions } : {}),
          ...(n.devices?.length ? { devices: n.devices } : {}),
        });
        launched.push(n);
        this.#store.markRefreshed(n.instanceId);
        if (reply.state !== 'pending') moves.push([n.instanceId, reply.state]);
      } catch (e) {
        this.#log.warn({ err: e, instanceId: n.instanceId, hostId: n.hostId }, 'launch failed on card; rolling back the batch');
        const maybeOnCard = !(e instanceof CardRequestError) || e.failure === 'unknown' ? [n] : [];
        await this.#undoLaunch([...launched, ...maybeOnCard], batch.slice(i + 1).concat(maybeOnCard.length ? [] : [n]));
        this.#metrics.launches.inc({ outcome: 'failed' }, batch.length);
        this.#vpc?.forget(batch.map((b) => b.instanceId).filter((id) => this.#store.get(id) === undefined));
        throw cardErrorToApi(e);
      }
    }
    this.#metrics.launches.inc({ outcome: 'ok' }, batch.length);
    for (const n of batch) this.#emit({ instanceId: n.instanceId, previous: null, current: 'pending', reason: null });
    for (const [id, state] of moves) this.#transition(id, state, null, true);
    await this.#vpc?.push();
    return batch.map((n) => this.#withNetwork(this.#mustGet(n.instanceId)));
  }

  /**
   * Undo a failed batch. Instances never sent are forgotten. Instances that are (or may be) on a card are terminated
   * there first (DELETE is idempotent); only if the card confirms are they forgotten — otherwise they stay visible as
   * shutting-down and the next describe retries the terminate.
   */
  async #undoLaunch(onCard: readonly NewInstance[], neverSent: readonly NewInstance[]): Promise<void> {
    const forget = neverSent.map((n) => n.instanceId);
    for (const n of onCard) {
      try {
        await this.#cards.get(n.hostId).terminate(n.instanceId);
        forget.push(n.instanceId);
      } catch (e) {
        if (isCardNotFound(e)) { forget.push(n.instanceId); continue; }
        this.#log.error({ err: e, instanceId: n.instanceId }, 'could not undo launch on card; leaving instance shutting-down');
        this.#transition(n.instanceId, 'shutting-down', 'Server.LaunchRolledBack: launch failed; card did not confirm the terminate');
      }
    }
    this.#store.rollback(forget);
    const gone = [...onCard, ...neverSent].filter((n) => forget.includes(n.instanceId)).flatMap((n) => n.volumes.map((v) => v.volumeId));
    await this.#volumeHooks?.forgotten(gone).catch((e: unknown) => this.#log.warn({ err: e, volumeIds: gone }, 'could not delete the exports of a rolled-back launch'));
  }

  /** One instance, refreshed from its card unless it is terminated. */
  async describe(instanceId: string): Promise<InstanceRecord> {
    return this.#withNetwork(await this.#reconcile(this.#mustGet(instanceId)));
  }

  /** The instance's ENI (MAC, private IP, groups) beside its record, as EC2's DescribeInstances shows it. */
  #withNetwork(rec: InstanceRecord): InstanceRecord {
    const net = this.#vpc?.describe(rec.instanceId);
    return net ? { ...rec, ...net } : rec;
  }

  /** All instances (optionally only some states), after refreshing the live ones from their cards concurrently. */
  async list(states?: readonly InstanceStateName[]): Promise<InstanceRecord[]> {
    const live = this.#store.list().filter((r) => r.state.name !== 'terminated');
    await Promise.all(live.map((r) => this.#reconcile(r)));
    return this.#store.list(states).map((r) => this.#withNetwork(r));
  }

  /** Terminate: shutting-down at once, terminated when the card confirms. Terminating a terminated instance is a no-op. */
  async terminate(instanceId: string): Promise<TerminateResult> {
    const before = this.#mustGet(instanceId);
    if (before.state.name === 'terminated') return { instanceId, previousState: before.state, currentState: before.state };
    this.#transition(instanceId, 'shutting-down', USER_TERMINATE_REASON);
    const after = await this.#finishTerminate(this.#mustGet(instanceId), true);
    return { instanceId, previousState: before.state, currentState: after.state };
  }

  /**
   * Stop (EC2 StopInstances): stopping at once, stopped once the card has the guest down (orderly shutdown, forced
   * after the card's grace period; `force` skips the orderly part). Stopping a stopping or stopped instance is a no-op.
   */
  async stop(instanceId: string, force = false): Promise<TerminateResult> {
    const before = await this.#reconcile(this.#mustGet(instanceId));
    const s = before.state.name;
    if (s === 'stopping' || s === 'stopped') return { instanceId, previousState: before.state, currentState: before.state };
    if (s !== 'running') throw incorrectState(instanceId, s, 'stopped');
    const reply = await this.#cardCall(before, (c) => c.stop(instanceId, force));
    const after = this.#transition(instanceId, reply.state, reply.state === 'running' ? before.stateReason : USER_STOP_REASON, true);
    return { instanceId, previousState: before.state, currentState: after.state };
  }

  /** Start (EC2 StartInstances): pending at once, running once the guest has booted, on the same host. Its EBS
   *  volumes are the ones it had; its RAM starts empty. Starting a pending or running instance is a no-op. */
  async start(instanceId: string): Promise<TerminateResult> {
    const before = await this.#reconcile(this.#mustGet(instanceId));
    const s = before.state.name;
    if (s === 'pending' || s === 'running') return { instanceId, previousState: before.state, currentState: before.state };
    if (s !== 'stopped') throw incorrectState(instanceId, s, 'started');
    const reply = await this.#cardCall(before, (c) => c.start(instanceId));
    const after = this.#transition(instanceId, reply.state, null, true);
    return { instanceId, previousState: before.state, currentState: after.state };
  }

  /** Reboot (EC2 RebootInstances): orderly restart of the guest; the instance stays running. */
  async reboot(instanceId: string): Promise<TerminateResult> {
    const before = await this.#reconcile(this.#mustGet(instanceId));
    if (before.state.name !== 'running') throw incorrectState(instanceId, before.state.name, 'rebooted');
    await this.#cardCall(before, (c) => c.reboot(instanceId));
    return { instanceId, previousState: before.state, currentState: before.state };
  }

  /** ModifyInstanceMetadataOptions: the card enforces the new options from its next IMDS request; then they are stored. */
  async modifyMetadataOptions(instanceId: string, input: MetadataOptionsInput): Promise<{ instanceId: string; metadataOptions: MetadataOptions }> {
    const rec = this.#mustGet(instanceId);
    const s = rec.state.name;
    if (s === 'terminated' || s === 'shutting-down') throw incorrectState(instanceId, s, 'modified');
    const wanted = mergeMetadataOptions(rec.metadataOptions, input);
    const metadataOptions = await this.#cardCall(rec, (c) => c.setMetadataOptions(instanceId, wanted));
    this.#store.setMetadataOptions(instanceId, metadataOptions);
    return { instanceId, metadataOptions };
  }

  async #cardCall<T>(rec: InstanceRecord, call: (c: ReturnType<CardRegistry['get']>) => Promise<T>): Promise<T> {
    try {
      return await call(this.#cards.get(rec.hostId));
    } catch (e) {
      throw cardErrorToApi(e);
    }
  }

  /** Console text so far: fetched from the card past what is cached. `stale` when the card could not be asked. */
  async consoleOutput(instanceId: string): Promise<{ text: string; stale: boolean }> {
    const rec = this.#mustGet(instanceId);
    const cached = this.#console.get(instanceId);
    if (rec.state.name === 'terminated') return { text: cached.data, stale: false };
    try {
      const chunk = await this.#cards.get(rec.hostId).console(instanceId, cached.nextOffset);
      return { text: this.#console.append(instanceId, cached.nextOffset, chunk.data, chunk.next).data, stale: false };
    } catch (e) {
      if (isCardNotFound(e)) return { text: cached.data, stale: false };
      if (cached.fetchedAt === '') throw cardErrorToApi(e);
      this.#log.warn({ err: e, instanceId }, 'console fetch failed; serving cached output');
      return { text: cached.data, stale: true };
    }
  }

  async #reconcile(rec: InstanceRecord): Promise<InstanceRecord> {
    if (rec.state.name === 'terminated') return rec;
    if (rec.state.name === 'shutting-down') return this.#finishTerminate(rec, false);
    try {
      const card = await this.#cards.get(rec.hostId).describe(rec.instanceId);
      // Every transition the card made since the one we know, with the card's time and reason.
      const steps = missedSteps(rec.state.name, card);
      let out = rec;
      for (const s of steps) out = this.#transition(rec.instanceId, s.to, s.reason, true, s.at);
      if (steps.length > 0) return out;
      return this.#transition(rec.instanceId, card.state, card.state === rec.state.name && card.stateReason === null ? rec.stateReason : card.stateReason, true);
    } catch (e) {
      if (isCardNotFound(e)) {
        return this.#transition(rec.instanceId, 'terminated', `Server.InstanceLost: card ${rec.hostId} has no record of the instance`, true);
      }
      this.#log.warn({ err: e, instanceId: rec.instanceId }, 'could not refresh instance from its card; serving stored state');
      return rec;
    }
  }

  async #finishTerminate(rec: InstanceRecord, throwOnFailure: boolean): Promise<InstanceRecord> {
    try {
      const reply = await this.#cards.get(rec.hostId).terminate(rec.instanceId);
      // The card shuts the guest down first (orderly, then forced); until it is done the instance stays shutting-down.
      if (reply.state !== 'terminated') {
        this.#store.markRefreshed(rec.instanceId);
        return this.#mustGet(rec.instanceId);
      }
    } catch (e) {
      if (!isCardNotFound(e)) {
        this.#log.warn({ err: e, instanceId: rec.instanceId }, 'terminate not confirmed by card; instance stays shutting-down');
        if (throwOnFailure) throw cardErrorToApi(e);
        return rec;
      }
    }
    return this.#transition(rec.instanceId, 'terminated', rec.stateReason, true);
  }

  #transition(instanceId: string, name: InstanceStateName, reason: string | null, confirmedByCard = false, at?: string): InstanceRecord {
    const cur = this.#mustGet(instanceId);
    const prev = cur.state.name;
    // terminated is final, and only a confirmed terminate leaves shutting-down: a refresh that raced a terminate loses.
    if (prev === 'terminated' || (prev === 'shutting-down' && name !== 'terminated')) return cur;
    const rec = this.#store.transition(instanceId, name, reason, confirmedByCard, at);
    if (name === 'terminated') this.#vpc?.release(instanceId);
    if (prev !== name) this.#emit({ instanceId, previous: prev, current: name, reason });
    return rec;
  }

  #emit(c: StateChange): void {
    for (const fn of this.#listeners) {
      try { fn(c); } catch (e) { this.#log.error({ err: e }, 'state-change listener threw'); }
    }
  }

  #mustGet(instanceId: string): InstanceRecord {
    const rec = this.#store.get(instanceId);
    if (!rec) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID ${JSON.stringify(instanceId)} does not exist`);
    return rec;
  }
}

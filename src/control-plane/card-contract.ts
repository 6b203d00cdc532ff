// The card management API as the control plane sees it (JSON over HTTP, bearer token), and checks on what cards send.
//   GET    /mgmt/v1/card                         → CardInfo
//   POST   /mgmt/v1/instances                    CardLaunchRequest → 201 { instanceId, state }
//   GET    /mgmt/v1/instances/:id                → CardInstance
//   DELETE /mgmt/v1/instances/:id                → { instanceId, state: 'terminated' }
//   GET    /mgmt/v1/instances/:id/console?offset → { data, next }
//   POST   /mgmt/v1/instances/:id/volumes        CardAttachVolumeRequest → 201 CardVolumeAttachment (hot-plug, src/nitro-card/ebs/mgmt-routes.ts)
//   DELETE /mgmt/v1/instances/:id/volumes/:vol   → { instanceId, volumeId, state: 'detached' } (after in-flight I/O)
//   GET    /mgmt/v1/instances/:id/volumes        → { volumes: CardVolumeStats[] }
//          volume errors: 404 VolumeNotAttached · 409 VolumeInUse | NoHotplugController | AttachmentLimitExceeded · 503 BlockStoreUnavailable
//   POST   /mgmt/v1/instances/:id/console        { data } → { ok }   (keystrokes for the guest's serial console)
//   POST   /mgmt/v1/instances/:id/stop|start|reboot  → { instanceId, previousState, state }   (src/nitro-card/lifecycle-routes.ts)
//   GET    /mgmt/v1/attestation?nonce=N          → signed attestation document (docs/trust.md §4)
//   PUT    /mgmt/v1/instances/:id/metadata-options  MetadataOptions → { instanceId, metadataOptions } (IMDS, docs/vpc.md)
//   errors: 401 Unauthorized · 404 InstanceNotFound · 400 InvalidParameter · 409 InsufficientCapacity | Conflict |
//           IncorrectInstanceState
import { isInstanceStateName } from './instance-state.ts';
import type { InstanceStateName } from './instance-state.ts';
import type { MetadataOptions } from './metadata-options.ts';

/** Where a card's management API listens and how to authenticate to it. `hostId` must match what the card reports. */
export interface CardEndpoint {
  hostId: string;
  url: string;
  token: string;
}

export interface CardInfo {
  hostId: string;
  mode: 'offload' | 'legacy';
  link: 'socket' | 'shm';
  firmware: { version: string; sha256: string; name?: string; signer?: string };
  capacity: { vcpus: number; memMiB: number };
  /** What the instances holding capacity use (stopped and terminated ones hold none). */
  usage: { vcpus: number; memMiB: number; instances: number };
  hypervisorConnected?: boolean;
  instancesByState?: Record<string, number>;
  /** This boot of the card: its number (> 1 after a restart), when, and the instance records it restored. */
  boot?: { count: number; at: string; restoredInstances: number };
}

export interface CardLaunchRequest {
  instanceId: string;
  instanceType: string;
  vcpus: number;
  memMiB: number;
  userData: string;
  /** `deleteOnTermination`: a card keeping volumes itself (sparse files, no block store) deletes them at terminate. */
  volumes: Array<{ volumeId: string; sizeBytes: number; deviceName: string; deleteOnTermination?: boolean }>;
  /** The instance's ENI (src/control-plane/vpc/vpc-service.ts CardLaunchNetwork); absent = no network. */
  network?: object;
  /** IMDS settings the card enforces (metadata-options.ts). */
  metadataOptions?: MetadataOptions;
  /** Teaching devices placed after the ENI (docs/labs/edu-device.md). */
  devices?: Array<'edu'>;
}

export interface CardInstance {
  instanceId: string;
  state: InstanceStateName;
  stateReason: string | null;
  launchedAt: string | null;
  functions: Array<{ fn: number; slot: number; kind: string; volumeId?: string }>;
  /** The card's own state history, oldest first (absent from older cards). */
  transitions?: CardTransition[];
}

export interface CardTransition {
  at: string;
  to: InstanceStateName;
  reason: string | null;
}

export interface CardStateReply {
  instanceId: string;
  state: InstanceStateName;
}

export interface CardConsoleChunk {
  data: string;
  next: number;
}

export type CardErrorCode = 'Unauthorized' | 'InstanceNotFound' | 'InvalidParameter' | 'InsufficientCapacity' | 'Conflict' | 'IncorrectInstanceState';

/** Thrown by the parsers below when a card's reply does not have the contract's shape. */
export class ContractViolation extends Error {
  constructor(what: string, value: unknown) {
    super(`card reply: ${what} (got ${JSON.stringify(value)?.slice(0, 80)})`);
    this.name = 'ContractViolation';
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ContractViolation(`${what} is not an object`, v);
  return v as Obj;
}
function str(o: Obj, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new ContractViolation(`${k} is not a string`, v);
  return v;
}
function num(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ContractViolation(`${k} is not a non-negative number`, v);
  return v;
}
function oneOf<T extends string>(o: Obj, k: string, allowed: readonly T[]): T {
  const v = o[k];
  if (!allowed.includes(v as T)) throw new ContractViolation(`${k} is not one of ${allowed.join('|')}`, v);
  return v as T;
}
function state(o: Obj): InstanceStateName {
  const v = o['state'];
  if (!isInstanceStateName(v)) throw new ContractViolation('state is not an EC2 state name', v);
  return v;
}
function optStr(o: Obj, k: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ContractViolation(`${k} is not a string`, v);
  return v;
}

export function parseCardInfo(v: unknown): CardInfo {
  const o = obj(v, 'card');
  const fw = obj(o['firmware'], 'firmware');
  const cap = obj(o['capacity'], 'capacity');
  const use = obj(o['usage'], 'usage');
  return {
    hostId: str(o, 'hostId'),
    mode: oneOf(o, 'mode', ['offload', 'legacy'] as const),
    link: oneOf(o, 'link', ['socket', 'shm'] as const),
    firmware: {
      version: str(fw, 'version'), sha256: str(fw, 'sha256'),
      ...(typeof fw['name'] === 'string' ? { name: fw['name'] } : {}),
      ...(typeof fw['signer'] === 'string' ? { signer: fw['signer'] } : {}),
    },
    capacity: { vcpus: num(cap, 'vcpus'), memMiB: num(cap, 'memMiB') },
    usage: { vcpus: num(use, 'vcpus'), memMiB: num(use, 'memMiB'), instances: num(use, 'instances') },
    ...(typeof o['hypervisorConnected'] === 'boolean' ? { hypervisorConnected: o['hypervisorConnected'] } : {}),
    ...(isCountMap(o['instancesByState']) ? { instancesByState: o['instancesByState'] } : {}),
    ...(typeof o['boot'] === 'object' && o['boot'] !== null ? { boot: parseBoot(o['boot']) } : {}),
  };
}

function parseBoot(v: unknown): { count: number; at: string; restoredInstances: number } {
  const b = obj(v, 'boot');
  return { count: num(b, 'count'), at: str(b, 'at'), restoredInstances: typeof b['restoredInstances'] === 'number' ? b['restoredInstances'] : 0 };
}

function isCountMap(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((n) => typeof n === 'number');
}

/** An attestation document is passed on as the card signed it; only its outline is checked here (the signature is
 *  checked by whoever asked for it, with `nitrolab attest`). */
export function parseAttestationDoc(v: unknown): Record<string, unknown> {
  const o = obj(v, 'attestation document');
  obj(o['body'], 'attestation body');
  str(o, 'signature');
  return o;
}

function parseTransitions(v: unknown): CardTransition[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((t: unknown) => {
    const to = obj(t, 'transition')['to'];
    if (!isInstanceStateName(to)) throw new ContractViolation('transition.to is not an EC2 state name', to);
    const o = t as Obj;
    return { at: str(o, 'at'), to, reason: optStr(o, 'reason') };
  });
}

export function parseStateReply(v: unknown): CardStateReply {
  const o = obj(v, 'instance');
  return { instanceId: str(o, 'instanceId'), state: state(o) };
}

/** The card's reply to PUT …/metadata-options: the options it now enforces. */
export function parseMetadataOptionsReply(v: unknown): { instanceId: string; metadataOptions: MetadataOptions } {
  const o = obj(v, 'metadata options reply');
  const m = obj(o['metadataOptions'], 'metadataOptions');
  const httpTokens = m['httpTokens'];
  const httpEndpoint = m['httpEndpoint'];
  if (httpTokens !== 'optional' && httpTokens !== 'required') throw new ContractViolation('httpTokens is not optional|required', httpTokens);
  if (httpEndpoint !== 'enabled' && httpEndpoint !== 'disabled') throw new ContractViolation('httpEndpoint is not enabled|disabled', httpEndpoint);
  return { instanceId: str(o, 'instanceId'), metadataOptions: { httpTokens, httpEndpoint, httpPutResponseHopLimit: num(m, 'httpPutResponseHopLimit') } };
}

export function parseCardInstance(v: unknown): CardInstance {
  const o = obj(v, 'instance');
  const fns = o['functions'] ?? [];
  if (!Array.isArray(fns)) throw new ContractViolation('functions is not an array', fns);
  return {
    instanceId: str(o, 'instanceId'),
    state: state(o),
    stateReason: optStr(o, 'stateReason'),
    launchedAt: optStr(o, 'launchedAt'),
    functions: fns.map((f: unknown) => {
      const fo = obj(f, 'function');
      const volumeId = optStr(fo, 'volumeId');
      return { fn: num(fo, 'fn'), slot: num(fo, 'slot'), kind: str(fo, 'kind'), ...(volumeId !== null ? { volumeId } : {}) };
    }),
    ...(Array.isArray(o['transitions']) ? { transitions: parseTransitions(o['transitions']) ?? [] } : {}),
  };
}

export function parseConsoleChunk(v: unknown): CardConsoleChunk {
  const o = obj(v, 'console');
  return { data: str(o, 'data'), next: num(o, 'next') };
}

/** A volume for the card to connect to and show the guest (the export already exists on the block store). */
export interface CardAttachVolumeRequest {
  volumeId: string;
  sizeBytes: number;
  deviceName: string;
  iops?: number;
  throughputMiBps?: number;
}

export interface CardVolumeAttachment { instanceId: string; volumeId: string; fn: number; nsid: number }

export interface CardVolumeStats {
  volumeId: string;
  deviceName: string;
  fn: number;
  nsid: number;
  sizeBytes: number;
  throttle: { iopsThrottledUs: number; tpThrottledUs: number; delayedRequests: number; requests: number };
}

export function parseVolumeAttachment(v: unknown): CardVolumeAttachment {
  const o = obj(v, 'volume attachment');
  return { instanceId: str(o, 'instanceId'), volumeId: str(o, 'volumeId'), fn: num(o, 'fn'), nsid: num(o, 'nsid') };
}

export function parseVolumeDetach(v: unknown): { instanceId: string; volumeId: string } {
  const o = obj(v, 'volume detach');
  if (o['state'] !== 'detached') throw new ContractViolation('state is not detached', o['state']);
  return { instanceId: str(o, 'instanceId'), volumeId: str(o, 'volumeId') };
}

export function parseVolumeList(v: unknown): CardVolumeStats[] {
  const list = obj(v, 'volumes')['volumes'];
  if (!Array.isArray(list)) throw new ContractViolation('volumes is not an array', list);
  return list.map((x: unknown) => {
    const o = obj(x, 'volume');
    const t = obj(o['throttle'], 'throttle');
    return {
      volumeId: str(o, 'volumeId'), deviceName: str(o, 'deviceName'), fn: num(o, 'fn'), nsid: num(o, 'nsid'), sizeBytes: num(o, 'sizeBytes'),
      throttle: { iopsThrottledUs: num(t, 'iopsThrottledUs'), tpThrottledUs: num(t, 'tpThrottledUs'), delayedRequests: num(t, 'delayedRequests'), requests: num(t, 'requests') },
    };
  });
}

// Request and reply schemas for the REST API (typebox → JSON Schema; validation and the OpenAPI document share them).
import { Type } from '@fastify/type-provider-typebox';
import type { Static } from '@fastify/type-provider-typebox';
import { INSTANCE_ID_PATTERN, VOLUME_ID_PATTERN } from './ids.ts';
import type { InstanceStateName } from './instance-state.ts';
import { DEVICE_NAME_PATTERN, MAX_VOLUME_GIB } from './volumes.ts';
import { ErrorCatalogue } from './errors.ts';
import { MetadataOptionsInput, MetadataOptionsSchema } from './metadata-options.ts';

export const MAX_LAUNCH_COUNT = 20;
export const MAX_USER_DATA_CHARS = 16384;

export const ErrorReply = Type.Object({
  code: Type.String({ enum: Object.keys(ErrorCatalogue), description: 'A code from the catalogue in errors.ts' }),
  message: Type.String(),
  requestId: Type.String(),
}, { description: 'Every 4xx/5xx reply. `code` is stable; see the catalogue in errors.ts.' });

const StateName = Type.Union([
  Type.Literal('pending'), Type.Literal('running'), Type.Literal('shutting-down'),
  Type.Literal('terminated'), Type.Literal('stopping'), Type.Literal('stopped'),
]);
// Compile-time check that the union above lists exactly the EC2 states of instance-state.ts.
type SameStates = [InstanceStateName] extends [Static<typeof StateName>]
  ? ([Static<typeof StateName>] extends [InstanceStateName] ? true : never) : never;
export const STATE_SCHEMA_MATCHES: SameStates = true;

export const InstanceStateSchema = Type.Object({
  code: Type.Integer({ description: 'EC2 state code: 0 pending, 16 running, 32 shutting-down, 48 terminated, 64 stopping, 80 stopped' }),
  name: StateName,
});

export const VolumeSchema = Type.Object({
  volumeId: Type.String({ pattern: VOLUME_ID_PATTERN }),
  sizeGiB: Type.Integer(),
  deviceName: Type.String(),
  deleteOnTermination: Type.Boolean(),
  state: Type.Union([Type.Literal('in-use'), Type.Literal('available'), Type.Literal('deleted')]),
  createTime: Type.String(),
});

export const InstanceSchema = Type.Object({
  instanceId: Type.String({ pattern: INSTANCE_ID_PATTERN }),
  instanceType: Type.String(),
  hostId: Type.String(),
  vcpus: Type.Integer(),
  memMiB: Type.Integer(),
  state: InstanceStateSchema,
  stateReason: Type.Union([Type.String(), Type.Null()]),
  launchTime: Type.String(),
  userData: Type.String(),
  volumes: Type.Array(VolumeSchema),
  transitions: Type.Array(Type.Object({
    name: StateName, code: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]), at: Type.String(),
  })),
  refreshedAt: Type.Union([Type.String(), Type.Null()], { description: 'When the card last confirmed this state' }),
  networkInterfaceId: Type.Optional(Type.String({ description: 'The ENI (a virtio-net function on the card)' })),
  macAddress: Type.Optional(Type.String()),
  privateIp: Type.Optional(Type.String({ description: 'From the subnet; the guest learns it by DHCP from the card' })),
  subnetId: Type.Optional(Type.String()),
  vpcId: Type.Optional(Type.String()),
  securityGroupIds: Type.Optional(Type.Array(Type.String())),
  metadataOptions: MetadataOptionsSchema,
  devices: Type.Optional(Type.Array(Type.Literal('edu'), { description: 'Teaching devices on the card (docs/labs/edu-device.md)' })),
});

export const LaunchBody = Type.Object({
  instanceType: Type.String({ minLength: 1, maxLength: 64, description: 'A name from GET /v1/instance-types' }),
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LAUNCH_COUNT, default: 1, description: 'All or none are launched' })),
  userData: Type.Optional(Type.String({ maxLength: MAX_USER_DATA_CHARS, default: '', description: 'Passed to the guest as-is' })),
  volumes: Type.Optional(Type.Array(Type.Object({
    sizeGiB: Type.Integer({ minimum: 1, maximum: MAX_VOLUME_GIB }),
    deviceName: Type.Optional(Type.String({ pattern: DEVICE_NAME_PATTERN, description: 'Default: next free of /dev/sdf…/dev/sdp' })),
    deleteOnTermination: Type.Optional(Type.Boolean({ default: true })),
  }, { additionalProperties: false }), { maxItems: 11, default: [] })),
  securityGroupIds: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 5, description: 'Default: the VPC\'s default group' })),
  subnetId: Type.Optional(Type.String({ maxLength: 64, description: 'Default: the default VPC\'s subnet (10.0.0.0/24)' })),
  metadataOptions: Type.Optional(MetadataOptionsInput),
  devices: Type.Optional(Type.Array(Type.Literal('edu'), { maxItems: 4, description: 'Teaching devices the card adds after the ENI: "edu" (docs/labs/edu-device.md)' })),
}, { additionalProperties: false });
export type LaunchBody = Static<typeof LaunchBody>;

export const LaunchReply = Type.Object({ instances: Type.Array(InstanceSchema) });

export const InstanceIdParams = Type.Object({ id: Type.String({ description: 'i- followed by 17 hex digits' }) });

export const ListQuery = Type.Object({
  state: Type.Optional(Type.String({ description: 'Comma-separated state names, e.g. pending,running' })),
});

export const ListReply = Type.Object({ instances: Type.Array(InstanceSchema) });

export const TerminateReply = Type.Object({
  instanceId: Type.String(),
  previousState: InstanceStateSchema,
  currentState: InstanceStateSchema,
});

export const InstanceTypeSchema = Type.Object({
  name: Type.String(),
  vcpus: Type.Integer(),
  memMiB: Type.Integer(),
  network: Type.Optional(Type.Object({ baselineGbps: Type.Number(), peakGbps: Type.Number() })),
  ebs: Type.Optional(Type.Object({
    baselineMbps: Type.Number(), maxMbps: Type.Number(), baselineIops: Type.Number(), maxIops: Type.Number(),
  })),
  bareMetal: Type.Boolean(),
  source: Type.String(),
});

export const InstanceTypesReply = Type.Object({ instanceTypes: Type.Array(InstanceTypeSchema) });

export const HostSchema = Type.Object({
  hostId: Type.String(),
  url: Type.String(),
  reachable: Type.Boolean(),
  error: Type.Optional(Type.String()),
  card: Type.Optional(Type.Object({
    hostId: Type.String(),
    mode: Type.Union([Type.Literal('offload'), Type.Literal('legacy')]),
    link: Type.Union([Type.Literal('socket'), Type.Literal('shm')]),
    firmware: Type.Object({
      version: Type.String(),
      sha256: Type.String({ description: 'SHA-256 of the booted firmware payload (docs/trust.md)' }),
      name: Type.Optional(Type.String()),
      signer: Type.Optional(Type.String({ description: 'Key id (SHA-256 of the SPKI) of the root key that signed the image' })),
    }),
    capacity: Type.Object({ vcpus: Type.Number(), memMiB: Type.Number() }),
    usage: Type.Object({ vcpus: Type.Number(), memMiB: Type.Number(), instances: Type.Number() },
      { description: 'Held by pending, running, stopping and shutting-down instances; stopped ones hold no capacity' }),
    hypervisorConnected: Type.Optional(Type.Boolean()),
    instancesByState: Type.Optional(Type.Record(Type.String(), Type.Number())),
    boot: Type.Optional(Type.Object({
      count: Type.Integer({ description: 'Boots of this card since its data dir was made: above 1 after a restart' }),
      at: Type.String({ description: 'When this boot started' }),
      restoredInstances: Type.Integer({ description: 'Instance records this boot restored from the card\'s journal (a crash)' }),
    })),
  })),
});

export const HostsReply = Type.Object({ hosts: Type.Array(HostSchema) });

export const HealthReply = Type.Object({ status: Type.Literal('ok'), schemaVersion: Type.Integer(), cards: Type.Integer() });

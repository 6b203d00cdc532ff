// /v1/volumes and /v1/snapshots — EBS volumes as resources: create (blank or from a snapshot), describe (with the
// export's nbd:// URL for real clients), delete, attach (hot-plug), detach, snapshot.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.ts';
import { INSTANCE_ID_PATTERN, VOLUME_ID_PATTERN } from '../ids.ts';
import { ErrorReply } from '../schemas.ts';
import { DEVICE_NAME_PATTERN } from '../volumes.ts';
import { GP3, IO2 } from '../volume-types.ts';
import type { VolumeService } from '../volume-service.ts';
import type { VolumeStateName } from '../state/volume-store.ts';

const SNAPSHOT_ID_PATTERN = '^snap-[0-9a-f]{17}$';
const VOLUME_STATES = ['creating', 'available', 'in-use', 'deleting', 'deleted', 'error'] as const;

export const VolumeResourceSchema = Type.Object({
  volumeId: Type.String({ pattern: VOLUME_ID_PATTERN }),
  sizeGiB: Type.Integer(),
  volumeType: Type.Union([Type.Literal('gp3'), Type.Literal('io2')]),
  iops: Type.Integer(),
  throughput: Type.Integer({ description: 'MiB/s' }),
  snapshotId: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union([Type.Literal('creating'), Type.Literal('available'), Type.Literal('in-use'), Type.Literal('deleting'), Type.Literal('deleted'), Type.Literal('error')]),
  stateReason: Type.Union([Type.String(), Type.Null()]),
  createTime: Type.String(),
  attachments: Type.Array(Type.Object({
    instanceId: Type.String(),
    device: Type.String(),
    state: Type.Union([Type.Literal('attaching'), Type.Literal('attached'), Type.Literal('detaching'), Type.Literal('detached'), Type.Literal('busy')]),
    attachTime: Type.String(),
    deleteOnTermination: Type.Boolean(),
  })),
  nbdUrl: Type.Optional(Type.String({ description: 'The volume\'s export on the block store (nbdinfo, qemu-img, qemu-io can open it)' })),
});

export const SnapshotSchema = Type.Object({
  snapshotId: Type.String(),
  volumeId: Type.String(),
  volumeSizeGiB: Type.Integer(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('completed'), Type.Literal('error')]),
  stateReason: Type.Union([Type.String(), Type.Null()]),
  description: Type.String(),
  startTime: Type.String(),
  completionTime: Type.Union([Type.String(), Type.Null()]),
});

const VolumeStatsSchema = Type.Object({
  volumeId: Type.String(), deviceName: Type.String(), fn: Type.Integer(), nsid: Type.Integer(), sizeBytes: Type.Integer(),
  throttle: Type.Object({
    iopsThrottledUs: Type.Number({ description: 'Time (µs) I/O waited for the IOPS limit' }),
    tpThrottledUs: Type.Number({ description: 'Time (µs) I/O waited for the throughput limit' }),
    delayedRequests: Type.Integer(), requests: Type.Integer(),
  }),
});

const CreateBody = Type.Object({
  sizeGiB: Type.Optional(Type.Integer({ minimum: 1, maximum: GP3.maxGiB, description: 'Required unless snapshotId is given (default: the snapshot\'s size)' })),
  volumeType: Type.Optional(Type.String({ default: 'gp3', description: 'gp3 (default) or io2' })),
  iops: Type.Optional(Type.Integer({ description: `gp3: ${GP3.baseIops}–${GP3.maxIops} (default ${GP3.baseIops}); io2: ${IO2.minIops}–${IO2.maxIops}, required` })),
  throughput: Type.Optional(Type.Integer({ description: `MiB/s, gp3 only: ${GP3.baseMiBps}–${GP3.maxMiBps} (default ${GP3.baseMiBps})` })),
  snapshotId: Type.Optional(Type.String({ pattern: SNAPSHOT_ID_PATTERN })),
}, { additionalProperties: false });

const AttachBody = Type.Object({
  instanceId: Type.String({ pattern: INSTANCE_ID_PATTERN }),
  deviceName: Type.String({ pattern: DEVICE_NAME_PATTERN, description: '/dev/sd[b-z] or /dev/xvd[b-z]' }),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String() });
const ListQuery = Type.Object({ state: Type.Optional(Type.String({ description: 'Comma-separated volume states' })) });
const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply, 502: ErrorReply, 503: ErrorReply };
const volRe = new RegExp(VOLUME_ID_PATTERN);
const snapRe = new RegExp(SNAPSHOT_ID_PATTERN);

function volumeId(id: string): string {
  if (!volRe.test(id)) throw new ApiError('InvalidVolume.NotFound', `The volume ${JSON.stringify(id)} does not exist (not vol- followed by 17 hex digits)`);
  return id;
}

function parseStates(raw: string | undefined): VolumeStateName[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  return raw.split(',').map((s) => {
    const name = s.trim();
    if (!(VOLUME_STATES as readonly string[]).includes(name)) throw new ApiError('InvalidParameterValue', `state ${JSON.stringify(name)} is not an EBS volume state`);
    return name as VolumeStateName;
  });
}

export const volumeRoutes: FastifyPluginAsyncTypebox<{ volumes: VolumeService }> = async (app, { volumes }) => {
  const tags = ['volumes'];
  app.post('/v1/volumes', {
    schema: { tags, summary: 'Create a volume (blank, or from a snapshot)', body: CreateBody, response: { 201: VolumeResourceSchema, ...errors } },
  }, async (req, reply) => reply.code(201).send(await volumes.create(req.body)));

  app.get('/v1/volumes', {
    schema: { tags, summary: 'List volumes (deleted ones only when asked for by state)', querystring: ListQuery, response: { 200: Type.Object({ volumes: Type.Array(VolumeResourceSchema) }), 400: ErrorReply } },
  }, async (req) => ({ volumes: volumes.list(parseStates(req.query.state)) }));

  app.get('/v1/volumes/:id', {
    schema: { tags, summary: 'Describe a volume', params: IdParams, response: { 200: VolumeResourceSchema, ...errors } },
  }, async (req) => volumes.get(volumeId(req.params.id)));

  app.delete('/v1/volumes/:id', {
    schema: { tags, summary: 'Delete an available volume and its data', params: IdParams, response: { 200: VolumeResourceSchema, ...errors } },
  }, async (req) => volumes.delete(volumeId(req.params.id)));

  app.post('/v1/volumes/:id/attach', {
    schema: { tags, summary: 'Attach to an instance (hot-plug: a new NVMe namespace appears in the guest)', params: IdParams, body: AttachBody, response: { 200: VolumeResourceSchema, ...errors } },
  }, async (req) => volumes.attach(volumeId(req.params.id), req.body.instanceId, req.body.deviceName));

  app.post('/v1/volumes/:id/detach', {
    schema: { tags, summary: 'Detach (after the I/O in flight completes)', params: IdParams, response: { 200: VolumeResourceSchema, ...errors } },
  }, async (req) => volumes.detach(volumeId(req.params.id)));

  app.get('/v1/volumes/:id/stats', {
    schema: { tags, summary: 'The card\'s statistics for an attached volume: limits, time throttled', params: IdParams, response: { 200: VolumeStatsSchema, ...errors } },
  }, async (req) => volumes.stats(volumeId(req.params.id)));

  app.post('/v1/volumes/:id/snapshots', {
    schema: {
      tags, summary: 'Snapshot a volume (a full copy; reflinked where the file system can)', params: IdParams,
      body: Type.Optional(Type.Object({ description: Type.Optional(Type.String({ maxLength: 255 })) }, { additionalProperties: false })),
      response: { 201: SnapshotSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(await volumes.snapshot(volumeId(req.params.id), req.body?.description ?? '')));

  app.get('/v1/snapshots', {
    schema: { tags, summary: 'List snapshots', querystring: Type.Object({ volumeId: Type.Optional(Type.String()) }), response: { 200: Type.Object({ snapshots: Type.Array(SnapshotSchema) }) } },
  }, async (req) => ({ snapshots: volumes.listSnapshots(req.query.volumeId) }));

  app.get('/v1/snapshots/:id', {
    schema: { tags, summary: 'Describe a snapshot', params: IdParams, response: { 200: SnapshotSchema, ...errors } },
  }, async (req) => {
    if (!snapRe.test(req.params.id)) throw new ApiError('InvalidSnapshot.NotFound', `The snapshot ${JSON.stringify(req.params.id)} does not exist`);
    return volumes.getSnapshot(req.params.id);
  });

  app.delete('/v1/snapshots/:id', {
    schema: { tags, summary: 'Delete a snapshot', params: IdParams, response: { 200: Type.Object({ snapshotId: Type.String(), deleted: Type.Boolean() }), ...errors } },
  }, async (req) => {
    if (!snapRe.test(req.params.id)) throw new ApiError('InvalidSnapshot.NotFound', `The snapshot ${JSON.stringify(req.params.id)} does not exist`);
    await volumes.deleteSnapshot(req.params.id);
    return { snapshotId: req.params.id, deleted: true };
  });
};

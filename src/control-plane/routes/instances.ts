// /v1/instances — launch, list, describe, terminate, console output.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.ts';
import { isInstanceId } from '../ids.ts';
import { isInstanceStateName } from '../instance-state.ts';
import type { InstanceStateName } from '../instance-state.ts';
import { ErrorReply, InstanceIdParams, InstanceSchema, LaunchBody, LaunchReply, ListQuery, ListReply, TerminateReply } from '../schemas.ts';
import type { InstanceService } from '../instance-service.ts';
import { Type } from '@fastify/type-provider-typebox';
import { MetadataOptionsInput, MetadataOptionsSchema } from '../metadata-options.ts';

const errors = { 400: ErrorReply, 404: ErrorReply, 502: ErrorReply, 503: ErrorReply };

function checkId(id: string): string {
  if (!isInstanceId(id)) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: ${JSON.stringify(id)} is not i- followed by 17 hex digits`);
  return id;
}

function parseStates(raw: string | undefined): InstanceStateName[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  return raw.split(',').map((s) => {
    const name = s.trim();
    if (!isInstanceStateName(name)) throw new ApiError('InvalidParameterValue', `state ${JSON.stringify(name)} is not an EC2 instance state name`);
    return name;
  });
}

export const instanceRoutes: FastifyPluginAsyncTypebox<{ service: InstanceService }> = async (app, { service }) => {
  app.post('/v1/instances', {
    schema: { tags: ['instances'], summary: 'Launch instances (all or none)', body: LaunchBody, response: { 201: LaunchReply, ...errors } },
  }, async (req, reply) => {
    const b = req.body;
    const instances = await service.launch({
      instanceType: b.instanceType, count: b.count ?? 1, userData: b.userData ?? '', volumes: b.volumes ?? [],
      ...(b.securityGroupIds !== undefined ? { securityGroupIds: b.securityGroupIds } : {}),
      ...(b.subnetId !== undefined ? { subnetId: b.subnetId } : {}),
      ...(b.metadataOptions !== undefined ? { metadataOptions: b.metadataOptions } : {}),
      ...(b.devices !== undefined ? { devices: b.devices } : {}),
    });
    req.log.info({ event: 'launched', instanceIds: instances.map((i) => i.instanceId), hosts: instances.map((i) => i.hostId) }, 'instances launched');
    return reply.code(201).send({ instances });
  });

  app.get('/v1/instances', {
    schema: { tags: ['instances'], summary: 'List instances, refreshed from their cards', querystring: ListQuery, response: { 200: ListReply, 400: ErrorReply } },
  }, async (req) => ({ instances: await service.list(parseStates(req.query.state)) }));

  app.get('/v1/instances/:id', {
    schema: { tags: ['instances'], summary: 'Describe one instance, refreshed from its card', params: InstanceIdParams, response: { 200: InstanceSchema, ...errors } },
  }, async (req) => service.describe(checkId(req.params.id)));

  app.delete('/v1/instances/:id', {
    schema: { tags: ['instances'], summary: 'Terminate an instance', params: InstanceIdParams, response: { 200: TerminateReply, ...errors } },
  }, async (req) => {
    const out = await service.terminate(checkId(req.params.id));
    req.log.info({ event: 'terminated', instanceId: out.instanceId }, 'instance terminated');
    return out;
  });

  app.put('/v1/instances/:id/metadata-options', {
    schema: {
      tags: ['instances'], summary: 'Modify the instance\'s IMDS options (EC2 ModifyInstanceMetadataOptions); members left out are kept',
      params: InstanceIdParams, body: MetadataOptionsInput,
      response: { 200: Type.Object({ instanceId: Type.String(), metadataOptions: MetadataOptionsSchema }), ...errors, 409: ErrorReply },
    },
  }, async (req) => {
    const out = await service.modifyMetadataOptions(checkId(req.params.id), req.body);
    req.log.info({ event: 'metadata-options-modified', ...out }, 'instance metadata options modified');
    return out;
  });

  app.get('/v1/instances/:id/console', {
    schema: {
      tags: ['instances'], summary: 'Console output so far (text/plain); header x-console-stale: true if the card could not be asked',
      params: InstanceIdParams,
      response: { 200: { type: 'string', description: 'console text' }, ...errors },
    },
  }, async (req, reply) => {
    const out = await service.consoleOutput(checkId(req.params.id));
    if (out.stale) reply.header('x-console-stale', 'true');
    return reply.type('text/plain; charset=utf-8').send(out.text);
  });
};

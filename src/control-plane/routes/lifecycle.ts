// /v1/instances/:id/stop|start|reboot — the EC2 lifecycle calls (StopInstances, StartInstances, RebootInstances).
// Each answers at once with EC2's InstanceStateChange; the rest shows in GET /v1/instances/:id (state, transitions).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.ts';
import { isInstanceId } from '../ids.ts';
import { ErrorReply, InstanceIdParams, TerminateReply } from '../schemas.ts';
import type { InstanceService } from '../instance-service.ts';

const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply, 502: ErrorReply, 503: ErrorReply };

const StopBody = Type.Union([
  Type.Object({
    force: Type.Optional(Type.Boolean({ description: 'Skip the orderly shutdown request (EC2 Force); default false' })),
  }, { additionalProperties: false }),
  Type.Null(),
]);

function checkId(id: string): string {
  if (!isInstanceId(id)) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: ${JSON.stringify(id)} is not i- followed by 17 hex digits`);
  return id;
}

export const lifecycleRoutes: FastifyPluginAsyncTypebox<{ service: InstanceService }> = async (app, { service }) => {
  app.post('/v1/instances/:id/stop', {
    schema: {
      tags: ['instances'], summary: 'Stop: orderly guest shutdown, forced after the grace period; EBS volumes and their data stay',
      params: InstanceIdParams, body: StopBody, response: { 200: TerminateReply, ...errors },
    },
  }, async (req) => {
    const out = await service.stop(checkId(req.params.id), req.body?.force === true);
    req.log.info({ event: 'stop-requested', instanceId: out.instanceId, state: out.currentState.name, force: req.body?.force === true }, 'instance stop requested');
    return out;
  });

  app.post('/v1/instances/:id/start', {
    schema: { tags: ['instances'], summary: 'Start a stopped instance (on the same host)', params: InstanceIdParams, response: { 200: TerminateReply, ...errors } },
  }, async (req) => {
    const out = await service.start(checkId(req.params.id));
    req.log.info({ event: 'start-requested', instanceId: out.instanceId, state: out.currentState.name }, 'instance start requested');
    return out;
  });

  app.post('/v1/instances/:id/reboot', {
    schema: { tags: ['instances'], summary: 'Reboot: orderly restart of the guest; the instance stays running', params: InstanceIdParams, response: { 200: TerminateReply, ...errors } },
  }, async (req) => {
    const out = await service.reboot(checkId(req.params.id));
    req.log.info({ event: 'reboot-requested', instanceId: out.instanceId }, 'instance reboot requested');
    return out;
  });
};

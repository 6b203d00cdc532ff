// Management routes for the instance lifecycle (lifecycle.ts): stop, start, reboot. Each answers at once with the
// state the instance is in now; the control plane follows the rest with GET /mgmt/v1/instances/:id.
//   POST /mgmt/v1/instances/:id/stop    { force? } → 200 { instanceId, previousState, state }
//   POST /mgmt/v1/instances/:id/start              → 200 { instanceId, previousState, state }
//   POST /mgmt/v1/instances/:id/reboot             → 200 { instanceId, previousState, state }
//   errors: 404 InstanceNotFound · 409 IncorrectInstanceState | InsufficientCapacity
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { CardInstance } from './instances.ts';
import type { StopOptions } from './lifecycle.ts';

export interface LifecycleApi {
  get(instanceId: string): CardInstance | undefined;
  stop(instanceId: string, o?: StopOptions): Promise<CardInstance>;
  start(instanceId: string): Promise<CardInstance>;
  reboot(instanceId: string): Promise<CardInstance>;
}

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const StopBody = Type.Union([Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), Type.Null()]);

export function lifecycleMgmtRoutes(card: LifecycleApi): FastifyPluginAsync {
  return async (app) => {
    const change = async (id: string, op: () => Promise<CardInstance>) => {
      const previousState = card.get(id)?.state;
      const inst = await op();
      return { instanceId: inst.req.instanceId, previousState: previousState ?? inst.state, state: inst.state };
    };

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof StopBody> | undefined }>('/mgmt/v1/instances/:id/stop',
      { schema: { params: IdParams, body: StopBody } },
      async (req) => change(req.params.id, () => card.stop(req.params.id, { force: req.body?.force === true })));

    app.post<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/start', { schema: { params: IdParams } },
      async (req) => change(req.params.id, () => card.start(req.params.id)));

    app.post<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/reboot', { schema: { params: IdParams } },
      async (req) => change(req.params.id, () => card.reboot(req.params.id)));
  };
}

// The card's management endpoint: the only way into the card from outside, and the control plane's only way to a
// host. The card listens and never dials out. Every request needs the card's bearer token (401 otherwise, logged
// and counted); parameters are validated on this side too.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../common/log.ts';
import { bearerMatches } from './token.ts';
import type { CardInstance, LaunchRequest } from './instances.ts';
import { LaunchNetworkSchema } from './vpc/schemas.ts';
import { MetadataOptionsSchema } from './vpc/imds-options.ts';

export class CardError extends Error {
  constructor(readonly code: string, readonly status: number, message: string) {
    super(message);
  }
}

export interface CardApi {
  info(): unknown;
  launch(req: LaunchRequest): Promise<CardInstance>;
  get(instanceId: string): CardInstance | undefined;
  terminate(instanceId: string): Promise<CardInstance>;
  consoleInput(instanceId: string, data: string): Promise<void>;
  attestation?(nonce: string): unknown;
}

const Launch = Type.Object({
  instanceId: Type.String({ pattern: '^i-[0-9a-f]{8,17}$' }),
  instanceType: Type.String({ minLength: 1, maxLength: 64 }),
  vcpus: Type.Integer({ minimum: 1, maximum: 448 }),
  memMiB: Type.Integer({ minimum: 1, maximum: 24 * 1024 * 1024 }),
  userData: Type.String({ maxLength: 16384 }),
  volumes: Type.Array(Type.Object({
    volumeId: Type.String({ pattern: '^vol-[0-9a-f]{8,17}$' }),
    sizeBytes: Type.Integer({ minimum: 4096, maximum: 16 * 1024 ** 4 }),
    deviceName: Type.String({ minLength: 1, maxLength: 32 }),
    iops: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    throughputMiBps: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    deleteOnTermination: Type.Optional(Type.Boolean()),
  }), { maxItems: 16 }),
  network: Type.Optional(LaunchNetworkSchema),
  devices: Type.Optional(Type.Array(Type.Literal('edu'), { maxItems: 4 })),
  metadataOptions: Type.Optional(MetadataOptionsSchema),
  imageId: Type.Optional(Type.String({ pattern: '^ami-[0-9a-f]{8,17}$' })),
  availabilityZone: Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$' })),
  accountId: Type.Optional(Type.String({ pattern: '^[0-9]{12}$' })),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String() });
const ConsoleQuery = Type.Object({ offset: Type.Optional(Type.Integer({ minimum: 0 })) });

export async function buildMgmtApi(card: CardApi, token: string, log: Logger, plugins: readonly FastifyPluginAsync[] = []): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: log.child({ component: 'mgmt-api' }, { level: 'warn' }), bodyLimit: 64 * 1024 });
  let unauthorized = 0;

  app.addHook('onRequest', async (req, reply) => {
    if (!bearerMatches(req.headers.authorization, token)) {
      unauthorized++;
      log.warn({ event: 'mgmt-unauthorized', url: req.url, ip: req.ip, count: unauthorized }, 'management request without a valid card token');
      return reply.code(401).send({ code: 'Unauthorized', message: 'a valid card token is required (Authorization: Bearer …)' });
    }
    return undefined;
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number }, _req, reply) => {
    if (err instanceof CardError) return reply.code(err.status).send({ code: err.code, message: err.message });
    if (err.validation) return reply.code(400).send({ code: 'InvalidParameter', message: err.message });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ code: 'InvalidRequest', message: err.message });
    log.error({ event: 'mgmt-internal-error', err: err.stack }, err.message);
    return reply.code(500).send({ code: 'InternalError', message: err.message });
  });

  const find = (id: string): CardInstance => {
    const inst = card.get(id);
    if (!inst) throw new CardError('InstanceNotFound', 404, `instance ${id} is not on this card`);
    return inst;
  };

  app.get('/mgmt/v1/card', async () => card.info());

  app.post<{ Body: Static<typeof Launch> }>('/mgmt/v1/instances', { schema: { body: Launch } }, async (req, reply) => {
    const inst = await card.launch(req.body);
    return reply.code(201).send({ instanceId: inst.req.instanceId, state: inst.state });
  });

  app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id', { schema: { params: IdParams } }, async (req) => find(req.params.id).view());

  app.delete<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id', { schema: { params: IdParams } }, async (req) => {
    const inst = await card.terminate(req.params.id);
    return { instanceId: inst.req.instanceId, state: inst.state };
  });

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ConsoleQuery> }>(
    '/mgmt/v1/instances/:id/console', { schema: { params: IdParams, querystring: ConsoleQuery } },
    async (req) => find(req.params.id).console.read(req.query.offset ?? 0),
  );

  app.post<{ Params: Static<typeof IdParams>; Body: { data: string } }>(
    '/mgmt/v1/instances/:id/console', { schema: { params: IdParams, body: Type.Object({ data: Type.String({ maxLength: 4096 }) }) } },
    async (req) => {
      const inst = find(req.params.id);
      if (inst.state !== 'running') throw new CardError('IncorrectInstanceState', 409, `The instance ${req.params.id} is ${inst.state}; its console takes input only while running`);
      await card.consoleInput(req.params.id, req.body.data);
      return { ok: true };
    },
  );

  app.get<{ Querystring: { nonce: string } }>('/mgmt/v1/attestation', { schema: { querystring: Type.Object({ nonce: Type.String({ minLength: 8, maxLength: 512 }) }) } },
    async (req) => {
      if (!card.attestation) throw new CardError('NotSupported', 501, 'this card does not produce attestation documents');
      return card.attestation(req.query.nonce);
    });

  for (const p of plugins) await app.register(p);

  return app as unknown as FastifyInstance;
}

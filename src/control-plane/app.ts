// The control-plane REST API as a fastify plugin (no listen here; see server.ts). OpenAPI at /openapi.json, UI at /docs.
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyPluginCallback, FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import { ApiError, describeValidation, fromFastifyError, isApiError } from './errors.ts';
import type { ErrorBody } from './errors.ts';
import { openDb } from './state/db.ts';
import type { Db } from './state/db.ts';
import { InstanceStore } from './state/instance-store.ts';
import { ConsoleStore } from './state/console-store.ts';
import { CardRegistry } from './cards.ts';
import type { CardEndpoint } from './card-contract.ts';
import { ControlPlaneMetrics } from './metrics.ts';
import { InstanceService } from './instance-service.ts';
import { requireToken } from './auth.ts';
import { instanceRoutes } from './routes/instances.ts';
import { instanceTypeRoutes } from './routes/instance-types.ts';
import { hostRoutes } from './routes/hosts.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { HostMetricsSource, registerHostGauges } from './host-metrics.ts';
import { volumeRoutes } from './routes/volumes.ts';
import { VolumeService } from './volume-service.ts';
import { VolumeStore } from './state/volume-store.ts';
import type { BlockStoreAdmin } from '../blockstore/admin.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { attestationRoutes } from './routes/attestation.ts';
import { consoleWsRoutes } from './routes/console-ws.ts';
import { ensureWebsocket } from './websocket.ts';
import { securityGroupRoutes } from './routes/security-groups.ts';
import { vpcInstanceRoutes } from './routes/vpc.ts';
import { vpcRoutes } from './routes/vpcs.ts';
import { VpcService } from './vpc/vpc-service.ts';

/** A plugin registered inside the control plane's scope (it sees `app.controlPlane`), e.g. the panel. */
export interface ExtraPlugin {
  plugin: FastifyPluginAsync<any> | FastifyPluginCallback<any>;
  options?: Record<string, unknown>;
}

export interface ControlPlaneOptions {
  /** Directory for control-plane.sqlite; ':memory:' for a throwaway store. */
  dataDir: string;
  cards: readonly CardEndpoint[];
  /** Deadline for each card call (default 5000 ms). */
  cardTimeoutMs?: number;
  /** If set, /v1/* requires `Authorization: Bearer <apiToken>`. */
  apiToken?: string;
  /** If set (with apiToken), this key may read /v1/* but not change anything (403 UnauthorizedOperation). */
  apiReadOnlyToken?: string;
  /** Registered after the core routes, in the same scope. */
  plugins?: readonly ExtraPlugin[];
  /** The block store volumes live on (nitrolab up runs one); without it /v1/volumes answers BlockStoreUnavailable. */
  blockStore?: BlockStoreAdmin;
}

/** What extra plugins (the panel) can reach: read state, subscribe to changes, scrape metrics. */
export interface ControlPlaneContext {
  db: Db;
  store: InstanceStore;
  consoleStore: ConsoleStore;
  cards: CardRegistry;
  service: InstanceService;
  metrics: ControlPlaneMetrics;
}

declare module 'fastify' {
  interface FastifyInstance {
    controlPlane: ControlPlaneContext;
  }
}

export const controlPlaneApp: FastifyPluginAsync<ControlPlaneOptions> = async (app, opts) => {
  const db = openDb(opts.dataDir);
  const store = new InstanceStore(db);
  const metrics = new ControlPlaneMetrics(() => store.countByState());
  const cards = new CardRegistry(opts.cards, { ...(opts.cardTimeoutMs !== undefined ? { timeoutMs: opts.cardTimeoutMs } : {}), onRequest: metrics.onCardRequest });
  const consoleStore = new ConsoleStore(db);
  const vpc = new VpcService({ db, cards, log: app.log });
  vpc.setHostLookup((id) => store.get(id)?.hostId);
  const service = new InstanceService({ store, console: consoleStore, cards, metrics, log: app.log, vpc });
  const volumes = new VolumeService({ volumes: new VolumeStore(db), instances: store, cards, blockStore: opts.blockStore, log: app.log, service });
  app.decorate('controlPlane', { db, store, consoleStore, cards, service, metrics });
  app.addHook('onClose', async () => {
    cards.close();
    db.close();
  });

  app.setErrorHandler((err, req, reply) => {
    const e = isApiError(err) ? err
      : (err as { code?: string }).code === 'FST_ERR_VALIDATION'
        ? new ApiError('InvalidParameterValue', describeValidation(err as Parameters<typeof describeValidation>[0], req as unknown as Record<string, unknown>))
        : fromFastifyError(err as { code?: string; statusCode?: number; message: string });
    metrics.apiErrors.inc({ code: e.code });
    // A bug gets a stack trace; a card or capacity problem is a warning; a client mistake is routine.
    if (e.code === 'InternalError') req.log.error({ err, code: e.code }, e.message);
    else if (e.statusCode >= 500) req.log.warn({ code: e.code, cause: (e.cause as Error | undefined)?.message }, e.message);
    else req.log.info({ code: e.code }, e.message);
    const body: ErrorBody = { code: e.code, message: e.message, requestId: String(req.id) };
    return reply.code(e.statusCode).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    metrics.apiErrors.inc({ code: 'RouteNotFound' });
    const body: ErrorBody = { code: 'RouteNotFound', message: `No route ${req.method} ${req.url.split('?')[0]}`, requestId: String(req.id) };
    return reply.code(404).send(body);
  });
  if (opts.apiToken !== undefined) app.addHook('onRequest', requireToken(opts.apiToken, opts.apiReadOnlyToken));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'nitrolab control plane', version: '1', description: 'Launch and manage instances on emulated Nitro hosts.' },
      tags: [{ name: 'instances' }, { name: 'volumes' }, { name: 'security-groups' }, { name: 'vpc' }, { name: 'catalogue' }, { name: 'hosts' }, { name: 'ops' }],
      ...(opts.apiToken !== undefined ? { components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, security: [{ bearer: [] }] } : {}),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { db, cardCount: opts.cards.length, metrics });
  await app.register(instanceTypeRoutes);
  await app.register(hostRoutes, { cards });
  const hostMetrics = new HostMetricsSource(cards);
  registerHostGauges(metrics.registry, hostMetrics);
  await app.register(metricsRoutes, { source: hostMetrics });
  await app.register(instanceRoutes, { service });
  await app.register(volumeRoutes, { volumes });
  await app.register(lifecycleRoutes, { service });
  await app.register(attestationRoutes, { cards });
  await ensureWebsocket(app);
  await app.register(consoleWsRoutes, { store, cards });
  await app.register(securityGroupRoutes, { vpc });
  await app.register(vpcInstanceRoutes, { store, cards });
  await app.register(vpcRoutes, { vpc });
  for (const extra of opts.plugins ?? []) await app.register(extra.plugin, extra.options ?? {});
};

// Not encapsulated (what fastify-plugin does): the decoration, error handler and hooks belong to the instance that
// registers the app, as in fastify/demo where server.ts registers app.ts wrapped in fastify-plugin.
Object.assign(controlPlaneApp, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'nitrolab-control-plane' });

export interface BuildOptions extends ControlPlaneOptions {
  /** A pino logger to use as-is, or fastify logger options / false. */
  logger?: FastifyBaseLogger | FastifyServerOptions['logger'];
}

function isLoggerInstance(l: unknown): l is FastifyBaseLogger {
  return typeof l === 'object' && l !== null && typeof (l as { child?: unknown }).child === 'function' && typeof (l as { info?: unknown }).info === 'function';
}

/** A fastify instance with the control plane registered (not listening). Close it to release the store and cards. */
export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const { logger, ...cp } = opts;
  const base: FastifyServerOptions = {
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } },
  };
  const app = isLoggerInstance(logger)
    ? Fastify({ ...base, loggerInstance: logger })
    : Fastify({ ...base, logger: logger ?? false });
  await app.withTypeProvider<TypeBoxTypeProvider>().register(controlPlaneApp, cp);
  return app as unknown as FastifyInstance;
}

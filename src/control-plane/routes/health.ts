// /healthz — the process is up and its store answers; /metrics — Prometheus text.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Db } from '../state/db.ts';
import { schemaVersion } from '../state/db.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import { HealthReply } from '../schemas.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<{ db: Db; cardCount: number; metrics: ControlPlaneMetrics }> = async (app, opts) => {
  app.get('/healthz', {
    schema: { tags: ['ops'], summary: 'Liveness: the store answers (cards are not asked)', response: { 200: HealthReply } },
  }, async () => ({ status: 'ok' as const, schemaVersion: schemaVersion(opts.db), cards: opts.cardCount }));

  app.get('/metrics', {
    schema: { tags: ['ops'], summary: 'Prometheus metrics', response: { 200: { type: 'string' } } },
  }, async (_req, reply) => reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics()));
};

// GET /v1/metrics — per host and card: CPU by category in cores, I/O rates, exits, interrupts, queue depth, latency
// (host-metrics.ts); GET /v1/hosts/:id/traces — the latest sampled I/O transactions for the panel's timeline.
import type { FastifyPluginAsync } from 'fastify';
import type { HostMetricsSource } from '../host-metrics.ts';

export const metricsRoutes: FastifyPluginAsync<{ source: HostMetricsSource }> = async (app, { source }) => {
  app.get('/v1/metrics', {
    schema: { tags: ['hosts'], summary: 'Per-host CPU attribution (cores), I/O, exits and interrupts, as each card reports them' },
  }, async () => source.snapshot());

  app.get<{ Params: { id: string } }>('/v1/hosts/:id/traces', {
    schema: { tags: ['hosts'], summary: 'Latest sampled I/O transactions of a host (doorbell → DMA → completion → MSI-X)', params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
  }, async (req) => source.traces(req.params.id));
};

// GET /mgmt/v1/metrics — this host's CPU attribution, I/O rates, exits and interrupts (telemetry.ts), and
// GET /mgmt/v1/traces — the latest sampled I/O transactions, for the panel's timeline. Behind the card's token.
import type { FastifyPluginAsync } from 'fastify';
import type { CardTelemetry } from './telemetry.ts';

export function metricsMgmtRoutes(t: CardTelemetry): FastifyPluginAsync {
  return async (app) => {
    app.get('/mgmt/v1/metrics', async () => t.metrics());
    app.get('/mgmt/v1/traces', async () => ({ transactions: t.traces() }));
  };
}

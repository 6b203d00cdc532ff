// Prometheus metrics for one control-plane app; each app owns its registry so several can live in one process.
import { Counter, Gauge, Registry } from 'prom-client';
import type { CardFailure } from './card-client.ts';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly apiErrors = new Counter({
    name: 'nitrolab_cp_api_errors_total', help: 'API error responses by catalogue code', labelNames: ['code'] as const, registers: [this.registry],
  });
  readonly cardRequests = new Counter({
    name: 'nitrolab_cp_card_requests_total', help: 'Card management API calls by host, operation and outcome',
    labelNames: ['host', 'op', 'outcome'] as const, registers: [this.registry],
  });
  readonly launches = new Counter({
    name: 'nitrolab_cp_launches_total', help: 'Instances launched (ok) or rolled back (failed)', labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly instances: Gauge<'state'>;

  /** `countByState` is read at scrape time for the instances gauge. */
  constructor(countByState: () => Partial<Record<string, number>> = () => ({})) {
    this.instances = new Gauge({
      name: 'nitrolab_cp_instances', help: 'Instances known to the control plane, by state', labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(countByState())) this.set({ state }, n ?? 0);
      },
    });
  }

  /** Hook for CardClient's onRequest option. */
  readonly onCardRequest = (hostId: string, op: string, outcome: 'ok' | CardFailure): void => {
    this.cardRequests.inc({ host: hostId, op, outcome });
  };
}

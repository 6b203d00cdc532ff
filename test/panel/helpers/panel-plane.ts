// A real control plane on 127.0.0.1 with the panel plugin, in front of stand-in cards, with STAND-IN metrics and
// traces (test/panel/helpers/stand-in-metrics.ts) until the real endpoints exist.
import type { Test } from 'tap';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import { panelPlugin } from '../../../src/control-plane/panel-plugin.ts';
import type { PanelOptions } from '../../../src/control-plane/panel-plugin.ts';
import { injectSource } from '../../../src/panel/server/source.ts';
import { standInCard } from '../../control-plane/helpers/stand-in-card.ts';
import type { StandInCard, StandInOptions } from '../../control-plane/helpers/stand-in-card.ts';
import { StandInMetrics } from './stand-in-metrics.ts';

export interface PanelPlane {
  url: string;
  cards: StandInCard[];
  metrics: StandInMetrics;
}

/** `withMetrics: false` leaves the real routes alone (they 404 until built): the page must say "no data yet". */
export async function startPanelPlane(t: Test, cardOpts: StandInOptions[], { withMetrics = true } = {}): Promise<PanelPlane> {
  const cards = await Promise.all(cardOpts.map((o) => standInCard(t, o)));
  const metrics = new StandInMetrics(cards);
  const options: PanelOptions = {
    machineCpus: 8,
    ...(withMetrics ? {
      source: (app) => ({
        ...injectSource(app),
        metrics: async () => ({ state: 'ok', data: metrics.metrics() }),
        traces: async (hostId) => metrics.traces(hostId),
      }),
    } : {}),
  };
  const cp = await startControlPlane({
    port: 0, host: '127.0.0.1', dataDir: t.testdir(), cards: cards.map((c) => c.endpoint), cardTimeoutMs: 2000,
    plugins: [{ plugin: panelPlugin, options: options as Record<string, unknown> }],
  });
  t.teardown(() => cp.close());
  return { url: cp.url, cards, metrics };
}

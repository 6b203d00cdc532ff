// Per-host metrics for GET /v1/metrics and the Prometheus gauges: each card's own report (GET /mgmt/v1/metrics,
// src/nitro-card/telemetry.ts), fetched concurrently and cached briefly so that the panel, a Prometheus scrape and a
// user asking at once cost the cards one request each. The control plane never talks to a host.
import { Gauge, type Registry } from 'prom-client';
import type { CardRegistry } from './cards.ts';
import { ContractViolation } from './card-contract.ts';
import { ApiError } from './errors.ts';
import type { HostMetricsContract } from '../telemetry/metrics-contract.ts';

/** One host as the card reports it: the shared contract (src/telemetry/metrics-contract.ts) and any extensions. */
export type HostMetricsReport = HostMetricsContract & { [extension: string]: unknown };

export interface MetricsSnapshot {
  at: string;
  hosts: HostMetricsReport[];
  /** Extension: cards that could not be asked. */
  unreachable: Array<{ hostId: string; error: string }>;
}

function parseReport(v: unknown): HostMetricsReport {
  const o = v as Partial<HostMetricsReport> | null;
  if (typeof o !== 'object' || o === null || typeof o.hostId !== 'string' || typeof o.cpu?.host?.total !== 'number' || typeof o.io?.iops !== 'number') {
    throw new ContractViolation('metrics report lacks hostId, cpu or io', v);
  }
  return o as HostMetricsReport;
}

export class HostMetricsSource {
  #cached: { atMs: number; snap: Promise<MetricsSnapshot> } | undefined;

  constructor(private readonly cards: CardRegistry, private readonly maxAgeMs = 500) {}

  snapshot(): Promise<MetricsSnapshot> {
    const now = Date.now();
    if (this.#cached && now - this.#cached.atMs < this.maxAgeMs) return this.#cached.snap;
    const snap = this.#fetch();
    this.#cached = { atMs: now, snap };
    return snap;
  }

  async traces(hostId: string): Promise<{ transactions: unknown[] }> {
    // A host id from the URL that names no configured card is the caller's mistake (404), not a card failure (502).
    if (!this.cards.all().some((c) => c.hostId === hostId)) throw new ApiError('InvalidHostID.NotFound', `No host ${JSON.stringify(hostId)} (GET /v1/hosts)`);
    return this.cards.get(hostId).call('traces', 'GET', '/mgmt/v1/traces', undefined, 200, (v) => {
      const t = (v as { transactions?: unknown } | null)?.transactions;
      if (!Array.isArray(t)) throw new ContractViolation('traces reply has no transactions array', v);
      return { transactions: t };
    });
  }

  async #fetch(): Promise<MetricsSnapshot> {
    const results = await Promise.all(this.cards.all().map(async (c) => {
      try {
        return { ok: true as const, report: await c.call('metrics', 'GET', '/mgmt/v1/metrics', undefined, 200, parseReport) };
      } catch (e) {
        return { ok: false as const, hostId: c.hostId, error: (e as Error).message };
      }
    }));
    return {
      at: new Date().toISOString(),
      hosts: results.flatMap((r) => (r.ok ? [r.report] : [])),
      unreachable: results.flatMap((r) => (r.ok ? [] : [{ hostId: r.hostId, error: r.error }])),
    };
  }
}

/** Per-host gauges in the control plane's registry, read from the cards at scrape time. */
export function registerHostGauges(registry: Registry, source: HostMetricsSource): void {
  const hosts = async () => (await source.snapshot()).hosts;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>, h: HostMetricsReport) => void) =>
    new Gauge<L>({
      name, help, labelNames, registers: [registry],
      async collect() {
        this.reset();
        for (const h of await hosts()) fill(this, h);
      },
    });
  gauge('nitrolab_host_cpu_cores', 'CPU in cores by process side (host|card) and category, over the last sampling interval',
    ['host', 'mode', 'side', 'category'] as const, (g, h) => {
      for (const [category, v] of Object.entries(h.cpu.host)) if (category !== 'total') g.set({ host: h.hostId, mode: h.mode, side: 'host', category }, v);
      for (const [category, v] of Object.entries(h.cpu.card)) if (category !== 'total') g.set({ host: h.hostId, mode: h.mode, side: 'card', category }, v);
    });
  gauge('nitrolab_host_iops', 'Block I/O operations per second', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.io.iops));
  gauge('nitrolab_host_io_megabytes_per_second', 'Block I/O MB/s by direction', ['host', 'mode', 'direction'] as const, (g, h) => {
    g.set({ host: h.hostId, mode: h.mode, direction: 'read' }, h.io.readMBps);
    g.set({ host: h.hostId, mode: h.mode, direction: 'write' }, h.io.writeMBps);
  });
  gauge('nitrolab_host_packets_per_second', 'ENI packets per second (both directions)', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.io.pps));
  gauge('nitrolab_host_network_gbps', 'ENI traffic in Gbit/s (both directions)', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.io.gbps));
  gauge('nitrolab_host_exits_per_second', 'VM exits per second (legacy mode; 0 in offload mode)', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.exitsPerSec));
  gauge('nitrolab_host_interrupts_per_second', 'Interrupts delivered to guests per second', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.interruptsPerSec));
  gauge('nitrolab_host_queue_depth', 'Block I/O commands in flight', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.queueDepth));
  gauge('nitrolab_host_io_latency_microseconds', 'Block I/O completion latency percentiles', ['host', 'mode', 'quantile'] as const, (g, h) => {
    g.set({ host: h.hostId, mode: h.mode, quantile: '0.5' }, h.latencyUs.p50);
    g.set({ host: h.hostId, mode: h.mode, quantile: '0.99' }, h.latencyUs.p99);
  });
  gauge('nitrolab_host_instances', 'Instances on the host', ['host', 'mode'] as const, (g, h) => g.set({ host: h.hostId, mode: h.mode }, h.instances));
}

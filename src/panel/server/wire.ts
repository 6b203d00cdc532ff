// What the panel reads (the metrics/traces JSON of GET /v1/metrics and GET /v1/hosts/:id/traces, issue 6) and what it
// pushes to the page over /v1/stream. The page (src/panel/web) is plain JavaScript; this file is its contract.
import type { InstanceRecord } from '../../control-plane/state/instance-store.ts';

// ---- read from the control plane's own routes ---------------------------------------------------------------------

/** One host (and its card) in GET /v1/metrics: the shared contract. CPU figures are in cores. */
export type { CardCpu, HostCpu, HostMetricsContract as HostMetrics, HostMode } from '../../telemetry/metrics-contract.ts';
import type { HostMetricsContract as HostMetrics, HostMode } from '../../telemetry/metrics-contract.ts';

export interface MetricsReply { at: string | number; hosts: HostMetrics[] }

export type TraceKind = 'doorbell' | 'desc-dma' | 'data-dma' | 'completion' | 'msix' | 'exit' | 'inject' | 'backend';
export const TRACE_KINDS: readonly TraceKind[] = ['doorbell', 'desc-dma', 'data-dma', 'completion', 'msix', 'exit', 'inject', 'backend'];

export interface TraceStep { tNs: number; kind: TraceKind; detail: string }
export interface Transaction { mode: HostMode; steps: TraceStep[] }
export interface TracesReply { transactions: Transaction[] }

/** GET /v1/hosts, as the panel uses it. */
export interface HostSummary {
  hostId: string;
  reachable: boolean;
  error?: string;
  card?: {
    mode: HostMode; link: string; capacity: { vcpus: number; memMiB: number }; usage: { vcpus: number; memMiB: number; instances: number };
    boot?: { count: number; at: string; restoredInstances: number };
  };
}

/** A read that may not be there yet: `missing` is a 404 (route not built, or nothing to show), `error` anything else. */
export type Avail<T> =
  | { state: 'ok'; data: T }
  | { state: 'missing'; reason: string }
  | { state: 'error'; reason: string };

// ---- derived on the server --------------------------------------------------------------------------------------

/** Host cores spent on I/O virtualization (hypervisor + device emulation) in one mode, averaged over its hosts. */
export interface ModeCost {
  hosts: string[];
  ioVirtCores: number;
  hypervisorCores: number;
  deviceEmulationCores: number;
  hostFabricCores: number;
  cardCores: number;
  iops: number;
  exitsPerSec: number;
}

/**
 * The headline. `both`: reclaimed = legacy − offload (per host). `offload-only` / `legacy-only`: what is measured,
 * and that the other mode is not. `none`: no metrics.
 */
export type Reclaim =
  | { kind: 'both'; legacy: ModeCost; offload: ModeCost; reclaimedCores: number; reclaimedPercentOfMachine: number;
    reclaimedPercentOfLegacy: number; machineCpus: number; comparableLoad: boolean }
  | { kind: 'offload-only'; offload: ModeCost; machineCpus: number }
  | { kind: 'legacy-only'; legacy: ModeCost; machineCpus: number }
  | { kind: 'none' };

/** The last sampled I/O per mode, chosen from the selected host first, then any other host. */
export interface SampledIo { hostId: string; transaction: Transaction }
export interface TimelineData { offload: SampledIo | null; legacy: SampledIo | null; status: Avail<null> }

// ---- pushed to the page -----------------------------------------------------------------------------------------

export interface MetricsPoint { at: number; hosts: HostMetrics[] }

export type ServerMessage =
  | { type: 'hello'; machineCpus: number; history: MetricsPoint[] }
  | {
    type: 'snapshot';
    at: number;
    hosts: Avail<HostSummary[]>;
    metrics: Avail<MetricsReply>;
    reclaim: Reclaim;
    instances: Avail<InstanceRecord[]>;
    timeline: TimelineData;
    console: ConsoleChunk | null;
  }
  | { type: 'instances'; instances: InstanceRecord[] };

/** Console text for the client's chosen instance: `reset` replaces what the page shows, otherwise it is appended. */
export interface ConsoleChunk { instanceId: string; reset: boolean; text: string; stale: boolean }

export type ClientMessage = { type: 'select'; hostId: string | null; instanceId: string | null };

export function parseClientMessage(raw: string): ClientMessage | undefined {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { return undefined; }
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  const optId = (x: unknown): x is string | null => x === null || (typeof x === 'string' && x.length <= 128);
  if (m['type'] === 'select' && optId(m['hostId']) && optId(m['instanceId'])) {
    return { type: 'select', hostId: m['hostId'], instanceId: m['instanceId'] };
  }
  return undefined;
}

// Picks the sampled I/O the panel draws: the newest transaction of each mode, from the selected host if it has one,
// else from any other host — so both paths (legacy and offload) are shown side by side whenever both are running.
import type { Avail, HostMode, SampledIo, TimelineData, TraceKind, TraceStep, Transaction, TracesReply } from './wire.ts';
import { TRACE_KINDS } from './wire.ts';

/** Steps with numeric time (a bigint may arrive as a string), known kinds only, in time order. */
export function normaliseTransaction(t: unknown): Transaction | undefined {
  if (typeof t !== 'object' || t === null) return undefined;
  const { mode, steps } = t as { mode?: unknown; steps?: unknown };
  if ((mode !== 'offload' && mode !== 'legacy') || !Array.isArray(steps)) return undefined;
  const out: TraceStep[] = [];
  for (const s of steps as unknown[]) {
    if (typeof s !== 'object' || s === null) continue;
    const { tNs, kind, detail } = s as { tNs?: unknown; kind?: unknown; detail?: unknown };
    const time = typeof tNs === 'number' ? tNs : typeof tNs === 'string' || typeof tNs === 'bigint' ? Number(tNs) : NaN;
    if (!Number.isFinite(time) || !TRACE_KINDS.includes(kind as TraceKind)) continue;
    out.push({ tNs: time, kind: kind as TraceKind, detail: typeof detail === 'string' ? detail : '' });
  }
  if (out.length === 0) return undefined;
  out.sort((a, b) => a.tNs - b.tNs);
  return { mode, steps: out };
}

function newest(reply: TracesReply, mode: HostMode): Transaction | undefined {
  const txs = reply.transactions;
  for (let i = txs.length - 1; i >= 0; i--) {
    const t = normaliseTransaction(txs[i]);
    if (t?.mode === mode) return t;
  }
  return undefined;
}

/** `traces` maps host id → that host's reply; `selected` goes first. */
export function pickTimeline(traces: ReadonlyMap<string, Avail<TracesReply>>, selected: string | null): TimelineData {
  const order = [...traces.keys()].sort((a, b) => (a === selected ? -1 : b === selected ? 1 : a.localeCompare(b)));
  const pick = (mode: HostMode): SampledIo | null => {
    for (const hostId of order) {
      const r = traces.get(hostId);
      if (r?.state !== 'ok') continue;
      const t = newest(r.data, mode);
      if (t) return { hostId, transaction: t };
    }
    return null;
  };
  const results = [...traces.values()];
  const status: Avail<null> = results.some((r) => r.state === 'ok') ? { state: 'ok', data: null }
    : results.find((r) => r.state === 'error') as Avail<null> | undefined
      ?? { state: 'missing', reason: results.length === 0 ? 'no hosts' : (results[0] as { reason: string }).reason };
  return { offload: pick('offload'), legacy: pick('legacy'), status };
}

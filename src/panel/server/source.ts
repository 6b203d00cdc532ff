// Where the panel's data comes from: the control plane's own REST routes, called in-process with `app.inject` (no
// socket, same validation and serialisation as a user gets). A route that 404s is "missing", never an exception.
import type { FastifyInstance } from 'fastify';
import type { InstanceRecord } from '../../control-plane/state/instance-store.ts';
import type { Avail, HostSummary, MetricsReply, TracesReply } from './wire.ts';

export interface PanelSource {
  hosts(): Promise<Avail<HostSummary[]>>;
  instances(): Promise<Avail<InstanceRecord[]>>;
  metrics(): Promise<Avail<MetricsReply>>;
  traces(hostId: string): Promise<Avail<TracesReply>>;
  /** Console text so far; `stale` when the card could not be asked and the text is the cached copy. */
  console(instanceId: string): Promise<Avail<{ text: string; stale: boolean }>>;
}

async function get(app: FastifyInstance, url: string, token: string | undefined): Promise<Avail<{ body: string; headers: Record<string, unknown> }>> {
  let res;
  try {
    res = await app.inject({ method: 'GET', url, headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} });
  } catch (e) {
    return { state: 'error', reason: `GET ${url}: ${(e as Error).message}` };
  }
  if (res.statusCode === 404) return { state: 'missing', reason: `GET ${url} answered 404` };
  if (res.statusCode !== 200) return { state: 'error', reason: `GET ${url} answered ${res.statusCode}: ${res.body.slice(0, 200)}` };
  return { state: 'ok', data: { body: res.body, headers: res.headers } };
}

async function getJson<T>(app: FastifyInstance, url: string, token: string | undefined, pick: (v: unknown) => T | undefined): Promise<Avail<T>> {
  const r = await get(app, url, token);
  if (r.state !== 'ok') return r;
  let v: unknown;
  try { v = JSON.parse(r.data.body); } catch { return { state: 'error', reason: `GET ${url}: not JSON` }; }
  const data = pick(v);
  return data === undefined ? { state: 'error', reason: `GET ${url}: unexpected shape` } : { state: 'ok', data };
}

const field = (key: string) => (v: unknown): unknown =>
  typeof v === 'object' && v !== null && Array.isArray((v as Record<string, unknown>)[key]) ? (v as Record<string, unknown>)[key] : undefined;

/** The default source: the app's own routes. `apiToken` if the control plane requires one. */
export function injectSource(app: FastifyInstance, apiToken?: string): PanelSource {
  return {
    hosts: () => getJson(app, '/v1/hosts', apiToken, (v) => field('hosts')(v) as HostSummary[] | undefined),
    instances: () => getJson(app, '/v1/instances', apiToken, (v) => field('instances')(v) as InstanceRecord[] | undefined),
    metrics: () => getJson(app, '/v1/metrics', apiToken, (v) => (field('hosts')(v) !== undefined ? v as MetricsReply : undefined)),
    traces: (hostId) => getJson(app, `/v1/hosts/${encodeURIComponent(hostId)}/traces`, apiToken,
      (v) => (field('transactions')(v) !== undefined ? v as TracesReply : undefined)),
    async console(instanceId) {
      const r = await get(app, `/v1/instances/${encodeURIComponent(instanceId)}/console`, apiToken);
      if (r.state !== 'ok') return r;
      return { state: 'ok', data: { text: r.data.body, stale: r.data.headers['x-console-stale'] === 'true' } };
    },
  };
}

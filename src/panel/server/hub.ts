// The panel's fan-out: while at least one page is subscribed, read a snapshot from the source once a period and push
// it to every page (each gets the timeline and console of its own selection). Pages never poll; the hub does, once,
// for all of them, and never sits on an I/O path — it only reads what the control plane already serves.
import type { InstanceRecord } from '../../control-plane/state/instance-store.ts';
import type { PanelSource } from './source.ts';
import { computeReclaim } from './reclaim.ts';
import { pickTimeline } from './timeline.ts';
import type { Avail, ConsoleChunk, HostSummary, MetricsPoint, MetricsReply, ServerMessage, TracesReply } from './wire.ts';

export interface PanelHubOptions {
  source: PanelSource;
  /** CPUs of the machine the hosts run on, for "reclaimed as % of the machine". */
  machineCpus: number;
  periodMs?: number;
  /** Metrics points kept for a page that connects late. */
  historySize?: number;
  /** The most console text sent when a page (re)selects an instance. */
  consoleTailChars?: number;
  onError?: (err: unknown) => void;
  /** No timer: snapshots are read only when `tick()` is called (tests step the hub). */
  manual?: boolean;
}

export interface PanelSubscription {
  select(hostId: string | null, instanceId: string | null): void;
  close(): void;
}

interface Client {
  send(msg: ServerMessage): void;
  hostId: string | null;
  instanceId: string | null;
  /** Instance whose console the page shows, and how many chars of it it has. */
  consoleOf: string | null;
  consoleLen: number;
}

export class PanelHub {
  readonly #opts: Required<Omit<PanelHubOptions, 'onError'>> & Pick<PanelHubOptions, 'onError'>;
  readonly #clients = new Set<Client>();
  readonly #history: MetricsPoint[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(opts: PanelHubOptions) {
    this.#opts = { periodMs: 1000, historySize: 300, consoleTailChars: 64 * 1024, manual: false, ...opts };
  }

  get subscribers(): number { return this.#clients.size; }

  /** A page connected: it gets the history at once and a snapshot as soon as one is read. */
  subscribe(send: (msg: ServerMessage) => void): PanelSubscription {
    const client: Client = { send, hostId: null, instanceId: null, consoleOf: null, consoleLen: 0 };
    this.#clients.add(client);
    this.#safeSend(client, { type: 'hello', machineCpus: this.#opts.machineCpus, history: [...this.#history] });
    this.requestTick();
    return {
      select: (hostId, instanceId) => {
        client.hostId = hostId;
        client.instanceId = instanceId;
        this.requestTick();
      },
      close: () => {
        this.#clients.delete(client);
        if (this.#clients.size === 0) this.#stopTimer();
      },
    };
  }

  /** Instance states changed (from the service's events): push the list now rather than at the next tick. */
  instancesChanged(instances: InstanceRecord[]): void {
    for (const c of this.#clients) this.#safeSend(c, { type: 'instances', instances });
  }

  /** Read and push as soon as possible (coalesced with a read already running). */
  requestTick(): void {
    if (this.#closed || this.#opts.manual || this.#clients.size === 0) return;
    if (this.#running) { this.#again = true; return; }
    this.#stopTimer();
    this.#running = this.tick().catch((e) => this.#opts.onError?.(e)).finally(() => {
      this.#running = undefined;
      if (this.#again) { this.#again = false; this.requestTick(); return; }
      this.#schedule();
    });
  }

  /** One round: read everything once, push to every page. Exposed so tests can step the hub. */
  async tick(): Promise<void> {
    if (this.#clients.size === 0) return;
    const src = this.#opts.source;
    const [hosts, metrics, instances] = await Promise.all([src.hosts(), src.metrics(), src.instances()]);
    const at = Date.now();
    if (metrics.state === 'ok') this.#remember({ at, hosts: metrics.data.hosts });
    const traces = await this.#readTraces(hosts, metrics);
    const consoles = await this.#readConsoles();
    const reclaim = computeReclaim(metrics.state === 'ok' ? metrics.data.hosts : undefined, this.#opts.machineCpus);
    for (const c of this.#clients) {
      this.#safeSend(c, {
        type: 'snapshot', at, hosts, metrics, reclaim, instances,
        timeline: pickTimeline(traces, c.hostId),
        console: this.#consoleFor(c, consoles),
      });
    }
  }

  /** Wait for a read in flight, then stop for good. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    await this.#running;
    this.#clients.clear();
  }

  #remember(p: MetricsPoint): void {
    this.#history.push(p);
    if (this.#history.length > this.#opts.historySize) this.#history.splice(0, this.#history.length - this.#opts.historySize);
  }

  async #readTraces(hosts: Avail<HostSummary[]>, metrics: Avail<MetricsReply>): Promise<Map<string, Avail<TracesReply>>> {
    const ids = new Set<string>();
    if (hosts.state === 'ok') for (const h of hosts.data) ids.add(h.hostId);
    if (metrics.state === 'ok') for (const h of metrics.data.hosts) ids.add(h.hostId);
    const out = new Map<string, Avail<TracesReply>>();
    await Promise.all([...ids].map(async (id) => { out.set(id, await this.#opts.source.traces(id)); }));
    return out;
  }

  async #readConsoles(): Promise<Map<string, Avail<{ text: string; stale: boolean }>>> {
    const ids = new Set<string>();
    for (const c of this.#clients) if (c.instanceId !== null) ids.add(c.instanceId);
    const out = new Map<string, Avail<{ text: string; stale: boolean }>>();
    await Promise.all([...ids].map(async (id) => { out.set(id, await this.#opts.source.console(id)); }));
    return out;
  }

  /** What this page has not seen yet: a reset (tail) on a new selection or a shrunk text, else the appended part. */
  #consoleFor(c: Client, consoles: ReadonlyMap<string, Avail<{ text: string; stale: boolean }>>): ConsoleChunk | null {
    if (c.instanceId === null) { c.consoleOf = null; c.consoleLen = 0; return null; }
    const r = consoles.get(c.instanceId);
    if (r?.state !== 'ok') return null;
    const { text, stale } = r.data;
    if (c.consoleOf === c.instanceId && text.length >= c.consoleLen) {
      const chunk = text.slice(c.consoleLen);
      c.consoleLen = text.length;
      return { instanceId: c.instanceId, reset: false, text: chunk, stale };
    }
    c.consoleOf = c.instanceId;
    c.consoleLen = text.length;
    return { instanceId: c.instanceId, reset: true, text: text.slice(-this.#opts.consoleTailChars), stale };
  }

  #safeSend(c: Client, msg: ServerMessage): void {
    try { c.send(msg); } catch (e) { this.#opts.onError?.(e); }
  }

  #schedule(): void {
    if (this.#closed || this.#clients.size === 0) return;
    this.#timer = setTimeout(() => this.requestTick(), this.#opts.periodMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

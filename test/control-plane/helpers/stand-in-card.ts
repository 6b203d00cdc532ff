// A stand-in card for control-plane tests: a real HTTP server on 127.0.0.1 that implements the card management API
// (src/control-plane/card-contract.ts) in memory. Not the real card; it exists so the client runs over real sockets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { CardEndpoint } from '../../../src/control-plane/card-contract.ts';

export interface StandInInstance {
  instanceId: string;
  instanceType: string;
  vcpus: number;
  memMiB: number;
  userData: string;
  volumes: Array<{ volumeId: string; sizeBytes: number; deviceName: string }>;
  state: string;
  stateReason: string | null;
  launchedAt: string;
  console: string;
  /** As the launch request or the last PUT …/metadata-options sent them. */
  metadataOptions?: unknown;
  devices?: unknown;
}

export interface StandInOptions {
  hostId?: string;
  token?: string;
  vcpus?: number;
  memMiB?: number;
  /** Report new instances as already running (a card whose guests boot before it answers). */
  bootImmediately?: boolean;
  /** The mode the card reports (default offload). */
  mode?: 'offload' | 'legacy';
}

/** A reply the stand-in gives instead of the contract's: an error status, silence, non-JSON, or apply-but-never-answer. */
export type Fault = { status: number; body: unknown } | 'hang' | 'garbage' | 'apply-then-hang';

export class StandInCard {
  readonly hostId: string;
  readonly token: string;
  readonly capacity: { vcpus: number; memMiB: number };
  readonly bootImmediately: boolean;
  readonly mode: 'offload' | 'legacy';
  readonly instances = new Map<string, StandInInstance>();
  /** What GET /mgmt/v1/card reports as this boot (absent = an older card that reports none); set it to "restart". */
  cardBoot: { count: number; at: string; restoredInstances: number } | undefined;
  /** Every request seen, as "METHOD path". */
  readonly requests: string[] = [];
  readonly #faults = new Map<string, Array<{ fault: Fault; skip: number }>>();
  readonly #server: http.Server;
  #port = 0;

  constructor(opts: StandInOptions = {}) {
    this.hostId = opts.hostId ?? 'host-0';
    this.token = opts.token ?? 'card-secret';
    this.capacity = { vcpus: opts.vcpus ?? 8, memMiB: opts.memMiB ?? 32768 };
    this.bootImmediately = opts.bootImmediately ?? false;
    this.mode = opts.mode ?? 'offload';
    this.#server = http.createServer((req, res) => { this.#handle(req, res); });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get url(): string { return `http://127.0.0.1:${this.#port}`; }
  get endpoint(): CardEndpoint { return { hostId: this.hostId, url: this.url, token: this.token }; }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * A request matching `op` ("POST /mgmt/v1/instances", "GET /mgmt/v1/card", or just a method like "DELETE") gets
   * `fault`: the next one, or the one after `skip` matching requests have been served normally.
   */
  failNext(op: string, fault: Fault, skip = 0): void {
    const list = this.#faults.get(op) ?? [];
    list.push({ fault, skip });
    this.#faults.set(op, list);
  }

  /** The guest has booted: the card moves the instance to running. */
  boot(instanceId: string): void {
    const i = this.instances.get(instanceId);
    if (!i) throw new Error(`stand-in card has no ${instanceId}`);
    i.state = 'running';
  }

  writeConsole(instanceId: string, text: string): void {
    const i = this.instances.get(instanceId);
    if (!i) throw new Error(`stand-in card has no ${instanceId}`);
    i.console += text;
  }

  usage(): { vcpus: number; memMiB: number; instances: number } {
    const live = [...this.instances.values()].filter((i) => i.state !== 'terminated');
    return { vcpus: live.reduce((a, i) => a + i.vcpus, 0), memMiB: live.reduce((a, i) => a + i.memMiB, 0), instances: live.length };
  }

  #fault(method: string, path: string): Fault | undefined {
    for (const key of [`${method} ${path}`, method]) {
      const head = this.#faults.get(key)?.[0];
      if (!head) continue;
      if (head.skip > 0) { head.skip--; continue; }
      this.#faults.get(key)?.shift();
      return head.fault;
    }
    return undefined;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://card');
      const method = req.method ?? 'GET';
      this.requests.push(`${method} ${url.pathname}`);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      const fault = this.#fault(method, url.pathname);
      if (fault === 'hang') return;
      if (fault === 'garbage') { res.writeHead(200).end('<html>not json'); return; }
      if (fault !== undefined && fault !== 'apply-then-hang') { send(fault.status, fault.body); return; }
      if (req.headers.authorization !== `Bearer ${this.token}`) { send(401, { code: 'Unauthorized', message: 'bad token' }); return; }
      let body: Record<string, unknown> = {};
      try { if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString()); } catch { send(400, { code: 'InvalidParameter', message: 'bad json' }); return; }
      const reply = this.#route(method, url, body);
      if (fault === 'apply-then-hang') return;
      send(reply[0], reply[1]);
    });
  }

  #route(method: string, url: URL, body: Record<string, unknown>): [number, unknown] {
    const p = url.pathname;
    if (method === 'GET' && p === '/mgmt/v1/card') {
      return [200, { hostId: this.hostId, mode: this.mode, link: 'socket', firmware: { version: '0.0.0-stand-in', sha256: '0'.repeat(64) },
        capacity: this.capacity, usage: this.usage(), ...(this.cardBoot ? { boot: this.cardBoot } : {}) }];
    }
    if (method === 'POST' && p === '/mgmt/v1/instances') {
      const id = String(body['instanceId']);
      if (this.instances.has(id)) return [409, { code: 'Conflict', message: `${id} exists` }];
      const vcpus = Number(body['vcpus']);
      const memMiB = Number(body['memMiB']);
      const u = this.usage();
      if (u.vcpus + vcpus > this.capacity.vcpus || u.memMiB + memMiB > this.capacity.memMiB) {
        return [409, { code: 'InsufficientCapacity', message: 'full' }];
      }
      this.instances.set(id, {
        instanceId: id, instanceType: String(body['instanceType']), vcpus, memMiB, userData: String(body['userData']),
        volumes: body['volumes'] as StandInInstance['volumes'], state: this.bootImmediately ? 'running' : 'pending', stateReason: null,
        launchedAt: new Date().toISOString(), console: '', metadataOptions: body['metadataOptions'], devices: body['devices'],
      });
      return [201, { instanceId: id, state: this.instances.get(id)?.state }];
    }
    const mo = /^\/mgmt\/v1\/instances\/([^/]+)\/metadata-options$/.exec(p);
    if (mo && method === 'PUT') {
      const i = this.instances.get(mo[1]!);
      if (!i) return [404, { code: 'InstanceNotFound', message: `no ${mo[1]}` }];
      i.metadataOptions = body;
      return [200, { instanceId: i.instanceId, metadataOptions: body }];
    }
    const m = /^\/mgmt\/v1\/instances\/([^/]+)(\/console)?$/.exec(p);
    const inst = m?.[1] !== undefined ? this.instances.get(m[1]) : undefined;
    if (!m || !inst) return [404, { code: 'InstanceNotFound', message: `no ${m?.[1] ?? p}` }];
    if (m[2] === '/console' && method === 'GET') {
      const offset = Number(url.searchParams.get('offset') ?? '0');
      return [200, { data: inst.console.slice(offset), next: inst.console.length }];
    }
    if (method === 'GET') {
      return [200, { instanceId: inst.instanceId, state: inst.state, stateReason: inst.stateReason, launchedAt: inst.launchedAt,
        functions: inst.volumes.map((v, i) => ({ fn: i + 1, slot: i + 1, kind: 'nvme', volumeId: v.volumeId })) }];
    }
    if (method === 'DELETE') {
      inst.state = 'terminated';
      return [200, { instanceId: inst.instanceId, state: 'terminated' }];
    }
    return [400, { code: 'InvalidParameter', message: `${method} ${p}` }];
  }
}

/** Start a stand-in card that stops when the test ends. */
export async function standInCard(t: Test, opts: StandInOptions = {}): Promise<StandInCard> {
  const card = await new StandInCard(opts).start();
  t.teardown(() => card.stop());
  return card;
}

/** A URL on 127.0.0.1 where nothing listens (a card that is down). */
export async function deadCardUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

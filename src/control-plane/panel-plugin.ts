// The metrics panel (issue 6 part 5) as a control-plane plugin: the page at `/`, its static modules under /panel/,
// uPlot under /panel/vendor/, and `/v1/stream`, a websocket that pushes snapshots (src/panel/server/hub.ts). The panel
// reads the control plane's own routes in-process; it adds no state and sits on no I/O path. See docs/panel.md.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PanelHub } from '../panel/server/hub.ts';
import { injectSource } from '../panel/server/source.ts';
import type { PanelSource } from '../panel/server/source.ts';
import { parseClientMessage } from '../panel/server/wire.ts';

export interface PanelOptions {
  /** Where snapshots come from; default: this app's own routes via `app.inject`. */
  source?: (app: FastifyInstance) => PanelSource;
  /** The control plane's API token, if it requires one (for the in-process reads; see docs/panel.md). */
  apiToken?: string;
  /** Default: this machine's CPU count (host processes run here under `nitrolab up`). */
  machineCpus?: number;
  /** Default 1000 ms. */
  periodMs?: number;
}

const WEB_DIR = fileURLToPath(new URL('../panel/web/', import.meta.url));
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'));
const VENDOR_FILES = new Set(['/uPlot.esm.js', '/uPlot.min.css']);

export const panelPlugin: FastifyPluginAsync<PanelOptions> = async (app, opts) => {
  const source = opts.source?.(app) ?? injectSource(app, opts.apiToken);
  const hub = new PanelHub({
    source,
    machineCpus: opts.machineCpus ?? availableParallelism(),
    ...(opts.periodMs !== undefined ? { periodMs: opts.periodMs } : {}),
    onError: (err) => app.log.warn({ err, component: 'panel' }, 'panel snapshot failed'),
  });

  await app.register(fastifyStatic, { root: WEB_DIR, prefix: '/panel/', index: false, maxAge: 0 });
  await app.register(fastifyStatic, {
    root: UPLOT_DIR, prefix: '/panel/vendor/', decorateReply: false, index: false, maxAge: 3_600_000,
    allowedPath: (pathName) => VENDOR_FILES.has(pathName),
  });
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.sendFile('index.html', WEB_DIR));

  // One @fastify/websocket per server: reuse it if another plugin registered it where this scope can see it.
  if (!app.hasDecorator('websocketServer')) await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  const sockets = new Set<{ terminate(): void }>();
  app.get('/v1/stream', { websocket: true, schema: { hide: true } }, (socket) => {
    sockets.add(socket);
    const sub = hub.subscribe((msg) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
    });
    socket.on('message', (data) => {
      const m = parseClientMessage(String(data));
      if (m?.type === 'select') sub.select(m.hostId, m.instanceId);
    });
    socket.on('close', () => { sockets.delete(socket); sub.close(); });
    socket.on('error', () => sub.close());
  });

  const { service, store } = app.controlPlane;
  let pending = false;
  const unsubscribe = service.onStateChange(() => {
    if (pending || hub.subscribers === 0) return;
    pending = true;
    setImmediate(() => { pending = false; hub.instancesChanged(store.list()); });
  });
  app.addHook('preClose', async () => {
    unsubscribe();
    await hub.close();
    for (const socket of sockets) socket.terminate();
  });
};

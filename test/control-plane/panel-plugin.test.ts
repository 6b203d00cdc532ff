// The panel plugin inside a real control-plane app: the page and its assets, nothing else from node_modules, hidden
// from the OpenAPI document, and /v1/stream pushing a hello, snapshots and instance-state changes.
import t from 'tap';
import WebSocket from 'ws';
import type { AddressInfo } from 'node:net';
import { build } from './helpers/build.ts';
import { standInCard } from './helpers/stand-in-card.ts';
import { panelPlugin } from '../../src/control-plane/panel-plugin.ts';
import type { ServerMessage } from '../../src/panel/server/wire.ts';

t.test('the page, its modules and uPlot are served; other files are not', async (t) => {
  const app = await build(t, { plugins: [{ plugin: panelPlugin }] });
  const page = await app.inject('/');
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.body, /<script type="module" src="\/panel\/app.js">/);
  for (const path of ['/panel/app.js', '/panel/charts.js', '/panel/timeline.js', '/panel/vendor/uPlot.esm.js']) {
    const r = await app.inject(path);
    t.equal(r.statusCode, 200, path);
    t.match(r.headers['content-type'], /javascript/, `${path} is served as JavaScript (module scripts need it)`);
  }
  t.equal((await app.inject('/panel/panel.css')).statusCode, 200);
  t.equal((await app.inject('/panel/vendor/uPlot.min.css')).statusCode, 200);
  t.not((await app.inject('/panel/vendor/uPlot.cjs.js')).statusCode, 200, 'only the two uPlot files are exposed');
  t.not((await app.inject('/panel/../server/hub.ts')).statusCode, 200);
  const spec = JSON.parse((await app.inject('/openapi.json')).body) as { paths: Record<string, unknown> };
  t.notOk('/v1/stream' in spec.paths || '/' in spec.paths, 'panel routes stay out of the API document');
});

t.test('/v1/stream sends a hello and snapshots, and pushes a launch as soon as it happens', async (t) => {
  const card = await standInCard(t, { bootImmediately: true });
  const app = await build(t, { cards: [card.endpoint], plugins: [{ plugin: panelPlugin, options: { machineCpus: 6, periodMs: 60_000 } }] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
  t.teardown(() => ws.close());
  const inbox: ServerMessage[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d) => { inbox.push(JSON.parse(String(d)) as ServerMessage); for (const w of waiters.splice(0)) w(); });
  const next = async <K extends ServerMessage['type']>(type: K): Promise<Extract<ServerMessage, { type: K }>> => {
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(0, i + 1).at(-1) as Extract<ServerMessage, { type: K }>;
      await new Promise<void>((r) => waiters.push(r));
    }
  };

  const hello = await next('hello');
  t.equal(hello.machineCpus, 6);
  const snap = await next('snapshot');
  t.equal(snap.hosts.state === 'ok' && snap.hosts.data[0]?.hostId, 'host-0', 'hosts from GET /v1/hosts');
  t.equal(snap.instances.state, 'ok');
  t.same(snap.metrics.state, app.hasRoute({ method: 'GET', url: '/v1/metrics' }) ? 'ok' : 'missing', 'metrics: there, or a 404 reported as missing');

  const launch = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }] } });
  t.equal(launch.statusCode, 201);
  const id = (JSON.parse(launch.body) as { instances: Array<{ instanceId: string }> }).instances[0]?.instanceId;
  const pushed = await next('instances');
  t.ok(pushed.instances.some((i) => i.instanceId === id), 'the new instance is pushed without waiting for the next period');

  card.writeConsole(id ?? '', 'hello from the guest\n');
  ws.send(JSON.stringify({ type: 'select', hostId: 'host-0', instanceId: id }));
  const withConsole = await next('snapshot');
  t.same(withConsole.console, { instanceId: id, reset: true, text: 'hello from the guest\n', stale: false }, 'selecting an instance brings its console');
  ws.send('not json');
  ws.send(JSON.stringify({ type: 'select', hostId: 42 }));
  t.equal(ws.readyState, WebSocket.OPEN, 'garbage from a page is ignored');
});

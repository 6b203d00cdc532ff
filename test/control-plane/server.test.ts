// startControlPlane: listens on 127.0.0.1, answers real HTTP, and close() releases the port and the store.
import t from 'tap';
import http from 'node:http';
import { startControlPlane } from '../../src/control-plane/server.ts';
import { standInCard } from './helpers/stand-in-card.ts';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

t.test('starts on an ephemeral port on 127.0.0.1 and serves the API over real HTTP', async (t) => {
  const card = await standInCard(t);
  const cp = await startControlPlane({ port: 0, host: '127.0.0.1', dataDir: t.testdir(), cards: [card.endpoint], logger: false });
  t.match(cp.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await get(`${cp.url}/healthz`);
  t.equal(health.status, 200);
  t.match(JSON.parse(health.body), { status: 'ok', cards: 1 });
  const hosts = await get(`${cp.url}/v1/hosts`);
  t.match(JSON.parse(hosts.body), { hosts: [{ hostId: 'host-0', reachable: true }] });
  await cp.close();
  await t.rejects(get(`${cp.url}/healthz`), { code: 'ECONNREFUSED' });
});

t.test('a port already in use is an error, and nothing is left open', async (t) => {
  const dataDir = t.testdir();
  const a = await startControlPlane({ port: 0, host: '127.0.0.1', dataDir, cards: [] });
  t.teardown(() => a.close());
  const port = Number(new URL(a.url).port);
  await t.rejects(startControlPlane({ port, host: '127.0.0.1', dataDir: t.testdir(), cards: [] }), { code: 'EADDRINUSE' });
});

import t from 'tap';
import Fastify from 'fastify';
import { injectSource } from '../../../src/panel/server/source.ts';

t.test('the app\'s own routes, read in-process: 404 is missing, other failures are errors', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.get('/v1/hosts', async () => ({ hosts: [{ hostId: 'host-0', reachable: true }] }));
  app.get('/v1/instances', async (_req, reply) => reply.code(503).send({ code: 'CardUnavailable' }));
  app.get('/v1/metrics', async () => ({ nope: true }));
  app.get('/v1/instances/:id/console', async (_req, reply) => reply.header('x-console-stale', 'true').type('text/plain').send('cached\n'));
  const src = injectSource(app);
  t.same(await src.hosts(), { state: 'ok', data: [{ hostId: 'host-0', reachable: true }] });
  t.match(await src.instances(), { state: 'error', reason: /503/ });
  t.same(await src.metrics(), { state: 'error', reason: 'GET /v1/metrics: unexpected shape' });
  t.same(await src.traces('host 0'), { state: 'missing', reason: 'GET /v1/hosts/host%200/traces answered 404' });
  t.same(await src.console('i-1'), { state: 'ok', data: { text: 'cached\n', stale: true } });
});

t.test('the API token, when there is one, goes with every read', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.get('/v1/hosts', async (req, reply) => (req.headers.authorization === 'Bearer s3cret' ? { hosts: [] } : reply.code(401).send({})));
  t.same(await injectSource(app, 's3cret').hosts(), { state: 'ok', data: [] });
  t.equal((await injectSource(app).hosts()).state, 'error');
});

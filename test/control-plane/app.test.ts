// The app plugin: OpenAPI document, docs UI, error shape for unknown routes, extra plugins, optional API token.
import t from 'tap';
import type { FastifyPluginAsync } from 'fastify';
import { build } from './helpers/build.ts';

t.test('the OpenAPI document at /openapi.json lists every route', async (t) => {
  const app = await build(t);
  const res = await app.inject('/openapi.json');
  t.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.match(doc.openapi, /^3\./);
  t.ok(doc.paths['/v1/instances']?.['post'], 'POST /v1/instances');
  t.ok(doc.paths['/v1/instances']?.['get'], 'GET /v1/instances');
  t.ok(doc.paths['/v1/instances/{id}']?.['get'], 'GET /v1/instances/{id}');
  t.ok(doc.paths['/v1/instances/{id}']?.['delete'], 'DELETE /v1/instances/{id}');
  t.ok(doc.paths['/v1/instances/{id}/console']?.['get'], 'console');
  t.ok(doc.paths['/v1/instance-types']?.['get'], 'instance types');
  t.ok(doc.paths['/v1/hosts']?.['get'], 'hosts');
  t.ok(doc.paths['/healthz']?.['get'], 'healthz');
});

t.test('the docs UI is served at /docs', async (t) => {
  const app = await build(t);
  const res = await app.inject('/docs/');
  t.equal(res.statusCode, 200);
  t.match(res.body, /swagger/i);
});

t.test('an unknown route is a 404 RouteNotFound in the catalogue shape, and is counted', async (t) => {
  const app = await build(t);
  const res = await app.inject('/v2/nothing?x=1');
  t.equal(res.statusCode, 404);
  t.match(res.json(), { code: 'RouteNotFound', message: 'No route GET /v2/nothing', requestId: String });
  const metrics = await app.inject('/metrics');
  t.match(metrics.body, /nitrolab_cp_api_errors_total\{code="RouteNotFound"\} 1/);
});

t.test('malformed JSON is a 400 InvalidParameterValue', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/v1/instances', headers: { 'content-type': 'application/json' }, payload: '{"instanceType":' });
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, 'InvalidParameterValue');
});

t.test('extra plugins are registered in the app scope and can read its state', async (t) => {
  const panel: FastifyPluginAsync<{ greeting: string }> = async (app, opts) => {
    app.get('/panel-probe', async () => ({ greeting: opts.greeting, instances: app.controlPlane.store.list().length }));
  };
  const app = await build(t, { plugins: [{ plugin: panel, options: { greeting: 'hello' } }] });
  const res = await app.inject('/panel-probe');
  t.same(res.json(), { greeting: 'hello', instances: 0 });
});

t.test('with an apiToken, /v1 needs the bearer token and /healthz stays open', async (t) => {
  const app = await build(t, { apiToken: 's3cret' });
  const none = await app.inject('/v1/instance-types');
  t.equal(none.statusCode, 401);
  t.equal(none.json().code, 'Unauthorized');
  const wrong = await app.inject({ url: '/v1/instance-types', headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.statusCode, 401);
  const right = await app.inject({ url: '/v1/instance-types', headers: { authorization: 'Bearer s3cret' } });
  t.equal(right.statusCode, 200);
  t.equal((await app.inject('/healthz')).statusCode, 200);
});

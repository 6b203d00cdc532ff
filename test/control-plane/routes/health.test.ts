// /healthz and /metrics.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard } from '../helpers/stand-in-card.ts';
import { MIGRATIONS } from '../../../src/control-plane/state/db.ts';

t.test('/healthz reports the schema version and card count without asking cards', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject('/healthz');
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ok', schemaVersion: MIGRATIONS.at(-1)?.version, cards: 1 });
  t.same(card.requests, []);
});

t.test('/metrics counts card calls and instances by state', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.nano' } });
  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 200);
  t.match(res.body, /nitrolab_cp_card_requests_total\{host="host-0",op="launch",outcome="ok"\} 1/);
  t.match(res.body, /nitrolab_cp_instances\{state="pending"\} 1/);
  t.match(res.body, /nitrolab_cp_launches_total\{outcome="ok"\} 1/);
});

// Findings of the fuzzers, kept as named regression tests (docs/reliability.md, "Fuzzing").
import t from 'tap';
import { build } from '../control-plane/helpers/build.ts';
import { standInCard } from '../control-plane/helpers/stand-in-card.ts';

t.test('rest fuzz seed 1001 iteration 34: GET /v1/hosts/<unknown>/traces is 404 InvalidHostID.NotFound, not 502', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  for (const id of ['nope', '../../etc/passwd', '\u202e']) {
    const res = await app.inject({ method: 'GET', url: `/v1/hosts/${encodeURIComponent(id)}/traces` });
    t.equal(res.statusCode, 404, `host ${JSON.stringify(id)}`);
    t.equal(res.json<{ code: string }>().code, 'InvalidHostID.NotFound');
  }
});

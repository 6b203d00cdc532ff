// GET /v1/hosts: each card's own report, or why it could not be asked.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard, deadCardUrl } from '../helpers/stand-in-card.ts';

t.test('lists reachable cards with their info and unreachable ones with the error', async (t) => {
  const card = await standInCard(t, { hostId: 'host-a', vcpus: 4, memMiB: 2048 });
  const app = await build(t, { cards: [card.endpoint, { hostId: 'host-b', url: await deadCardUrl(), token: 't' }] });
  await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro' } });
  const res = await app.inject('/v1/hosts');
  t.equal(res.statusCode, 200);
  const [a, b] = res.json().hosts;
  t.match(a, { hostId: 'host-a', reachable: true, card: { mode: 'offload', link: 'socket', capacity: { vcpus: 4, memMiB: 2048 },
    usage: { vcpus: 1, memMiB: 256, instances: 1 }, firmware: { version: '0.0.0-stand-in' } } });
  t.match(b, { hostId: 'host-b', reachable: false, error: /ECONNREFUSED/ });
  t.notOk(b.card);
});

t.test('a card that refuses the token is reported unreachable with the reason', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [{ ...card.endpoint, token: 'wrong' }] });
  const [h] = (await app.inject('/v1/hosts')).json().hosts;
  t.match(h, { reachable: false, error: /token refused/ });
});

// CardRegistry: one client per configured host; the survey never throws.
import t from 'tap';
import { CardRegistry } from '../../src/control-plane/cards.ts';
import { standInCard, deadCardUrl } from './helpers/stand-in-card.ts';

t.test('refuses duplicate host ids', async (t) => {
  t.throws(() => new CardRegistry([{ hostId: 'a', url: 'http://127.0.0.1:1', token: 't' }, { hostId: 'a', url: 'http://127.0.0.1:2', token: 't' }]),
    { message: /duplicate card hostId "a"/ });
});

t.test('an unconfigured host is CardUnavailable', async (t) => {
  const reg = new CardRegistry([]);
  t.throws(() => reg.get('ghost'), { code: 'CardUnavailable', message: /"ghost"/ });
});

t.test('survey reports each host, reachable or not', async (t) => {
  const card = await standInCard(t, { hostId: 'up' });
  const reg = new CardRegistry([card.endpoint, { hostId: 'down', url: await deadCardUrl(), token: 't' }]);
  t.teardown(() => reg.close());
  const s = await reg.survey();
  t.match(s, [{ hostId: 'up', reachable: true, card: { hostId: 'up' } }, { hostId: 'down', reachable: false, error: /ECONNREFUSED/ }]);
});

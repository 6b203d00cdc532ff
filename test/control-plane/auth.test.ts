// Bearer-token comparison for the optional API token.
import t from 'tap';
import { bearerMatches } from '../../src/control-plane/auth.ts';

t.test('only an exact Bearer token matches', async (t) => {
  t.ok(bearerMatches('Bearer abc', 'abc'));
  t.notOk(bearerMatches('Bearer abcd', 'abc'));
  t.notOk(bearerMatches('bearer abc', 'abc'));
  t.notOk(bearerMatches('abc', 'abc'));
  t.notOk(bearerMatches(undefined, 'abc'));
});

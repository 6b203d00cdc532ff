// Canonical JSON: one byte string per value, whatever the key order or indentation it arrived with.
import t from 'tap';
import { canonicalJson, prettyJson } from '../../../src/nitro-card/boot/canonical-json.ts';

t.test('keys are sorted at every depth and whitespace removed', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
});

t.test('a parsed pretty form re-serialises to the same canonical bytes', async (t) => {
  const v = { version: '1.0.0', payload: { size: 3, sha256: 'ab' }, list: ['é', 'a"b'] };
  t.equal(canonicalJson(JSON.parse(prettyJson(v))), canonicalJson(v));
  t.match(prettyJson(v), /^\{\n {2}"list"/);
});

t.test('values JSON cannot carry exactly are refused, naming where', async (t) => {
  t.throws(() => canonicalJson({ a: [1, Number.NaN] }), /\$\.a\[1\] is NaN/);
  t.throws(() => canonicalJson({ a: undefined }), /\$\.a has type undefined/);
  t.throws(() => canonicalJson({ n: 1n }), /\$\.n has type bigint/);
});

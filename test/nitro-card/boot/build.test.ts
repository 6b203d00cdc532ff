// Building and signing images: the round trip verifies, builds are reproducible, and re-signing after an edit works.
import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFirmware, CARD_PERSONALITIES, generateSigningKeyPair, signFirmware } from '../../../src/nitro-card/boot/build.ts';
import { keyId } from '../../../src/nitro-card/boot/firmware.ts';
import { verifyAndMeasure } from '../../../src/nitro-card/boot/security-chip.ts';
import { buildImage, firmwareErrorOf, rootKeys, scratchDir } from './image-fixture.ts';

const keys = rootKeys();

t.test('build then verify round-trips and records how and when the image was built', async (t) => {
  const dir = buildImage(scratchDir(t), keys, { builtAt: '2025-02-03T04:05:06.000Z', sourceCommit: 'abc123' });
  const { manifest } = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey });
  t.same(manifest.personalities, CARD_PERSONALITIES);
  t.same(manifest.build, { builtAt: '2025-02-03T04:05:06.000Z', builder: manifest.build.builder, node: process.version, sourceCommit: 'abc123', signer: keyId(keys.publicKey) });
  t.match(manifest.build.builder, /src\/nitro-card\/boot\/build\.ts/);
  t.equal(readFileSync(join(dir, 'signature.bin')).length, 64);
});

t.test('the same inputs build byte-identical images', async (t) => {
  const a = buildImage(scratchDir(t), keys);
  const b = buildImage(scratchDir(t), keys);
  for (const f of ['manifest.json', 'payload.bin', 'signature.bin']) t.same(readFileSync(join(a, f)), readFileSync(join(b, f)), f);
});

t.test('the default payload is the card code manifest and the build honours SOURCE_DATE_EPOCH', async (t) => {
  const saved = process.env['SOURCE_DATE_EPOCH'];
  process.env['SOURCE_DATE_EPOCH'] = '1700000000';
  t.teardown(() => (saved === undefined ? delete process.env['SOURCE_DATE_EPOCH'] : (process.env['SOURCE_DATE_EPOCH'] = saved)));
  const m = buildFirmware({ outDir: scratchDir(t), signingKey: keys.privateKey });
  t.equal(m.build.builtAt, '2023-11-14T22:13:20.000Z');
  t.equal(m.payload.format, 'nitrolab-card-payload/1');
});

t.test('after editing the payload the image is refused until it is re-signed', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  writeFileSync(join(dir, 'payload.bin'), 'my own payload');
  t.equal(firmwareErrorOf(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey })).check, 'payload-hash');
  const m = signFirmware(dir, keys.privateKey);
  t.equal(m.payload.size, 14);
  t.doesNotThrow(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey }));
});

t.test('re-signing with a new key moves the image to that root', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const mine = rootKeys();
  signFirmware(dir, mine.privateKey);
  t.doesNotThrow(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey: mine.publicKey }));
  t.equal(firmwareErrorOf(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey })).check, 'wrong-key');
});

t.test('signing a directory without a JSON manifest names the problem', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  writeFileSync(join(dir, 'manifest.json'), 'not json');
  t.equal(firmwareErrorOf(() => signFirmware(dir, keys.privateKey)).check, 'manifest-parse');
  t.equal(firmwareErrorOf(() => signFirmware(scratchDir(t), keys.privateKey)).check, 'missing-file');
});

t.test('keygen writes a usable pair, the private half 0600, and never overwrites', async (t) => {
  const dir = scratchDir(t);
  const priv = join(dir, 'me.key.pem');
  const pub = join(dir, 'me.pub.pem');
  const { keyId: id } = generateSigningKeyPair(priv, pub);
  t.equal(statSync(priv).mode & 0o777, 0o600);
  const img = buildImage(join(dir, 'img'), keys, { signingKey: priv });
  t.equal(verifyAndMeasure({ firmwareDir: img, rootPublicKey: pub }).manifest.build.signer, id);
  t.throws(() => generateSigningKeyPair(priv, join(dir, 'other.pub.pem')), /already exists/);
});

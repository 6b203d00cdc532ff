// Manifest schema checks and key loading: every bad input is a FirmwareError naming the check and the field.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FIRMWARE_DIR, DEV_ROOT_PRIVATE_KEY, DEV_ROOT_PUBLIC_KEY, keyId, loadPrivateKey, loadPublicKey, parseManifest, readImage } from '../../../src/nitro-card/boot/firmware.ts';
import { verifyAndMeasure } from '../../../src/nitro-card/boot/security-chip.ts';
import { buildImage, firmwareErrorOf, rootKeys, scratchDir } from './image-fixture.ts';

const keys = rootKeys();
const good = (t: { teardown(fn: () => void): void }): Record<string, unknown> =>
  JSON.parse(readFileSync(join(buildImage(scratchDir(t), keys), 'manifest.json'), 'utf8')) as Record<string, unknown>;

t.test('the committed development image boots with the committed DEV root key', async (t) => {
  const r = verifyAndMeasure({ firmwareDir: DEFAULT_FIRMWARE_DIR, rootPublicKey: DEV_ROOT_PUBLIC_KEY });
  t.equal(r.manifest.name, 'nitrolab-card');
  t.equal(r.manifest.build.signer, keyId(loadPublicKey(DEV_ROOT_PUBLIC_KEY)));
  t.equal(keyId(loadPublicKey(loadPrivateKey(DEV_ROOT_PRIVATE_KEY))), r.manifest.build.signer, 'the pair matches');
  t.match(readFileSync(DEV_ROOT_PRIVATE_KEY, 'utf8'), /DEVELOPMENT .*DEV ONLY/, 'the key is labelled development-only');
});

t.test('a valid manifest parses unchanged', async (t) => {
  const m = good(t);
  t.equal(parseManifest(m), m);
});

t.test('each schema violation names its field', async (t) => {
  const cases: [string, (m: Record<string, any>) => void, RegExp][] = [
    ['format', (m) => (m['format'] = 'other/1'), /field format is "other\/1"/],
    ['version', (m) => (m['version'] = 'v1'), /field version "v1" does not match/],
    ['personalities', (m) => (m['personalities'] = []), /field personalities must be a non-empty array/],
    ['device', (m) => (m['personalities'][1].device = 'gpu'), /field personalities\[1\]\.device must be/],
    ['payload.file', (m) => (m['payload'].file = '../etc/passwd'), /field payload\.file is "\.\.\/etc\/passwd"/],
    ['payload.sha256', (m) => (m['payload'].sha256 = 'abc'), /field payload\.sha256 "abc"/],
    ['payload.size', (m) => (m['payload'].size = -1), /field payload\.size must be a non-negative integer/],
    ['build.builtAt', (m) => (m['build'].builtAt = 'yesterday'), /field build\.builtAt is not an ISO date/],
    ['build.signer', (m) => delete m['build'].signer, /field build\.signer is missing/],
    ['not an object', (m) => Object.keys(m).forEach((k) => delete m[k]), /field format/],
  ];
  for (const [name, mutate, message] of cases) {
    const m = good(t);
    mutate(m);
    const e = firmwareErrorOf(() => parseManifest(m));
    t.equal(e.check, 'manifest-parse', name);
    t.match(e.message, message, name);
  }
  t.equal(firmwareErrorOf(() => parseManifest([1])).check, 'manifest-parse');
});

t.test('readImage names the first missing file', async (t) => {
  t.match(firmwareErrorOf(() => readImage(scratchDir(t))).message, /manifest\.json not readable .*ENOENT/);
});

t.test('keys that are not Ed25519, not PEM, or of the wrong kind are refused', async (t) => {
  const dir = scratchDir(t);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  t.equal(firmwareErrorOf(() => loadPublicKey(rsa.publicKey)).check, 'root-key');
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n');
  t.equal(firmwareErrorOf(() => loadPublicKey(junk)).check, 'root-key');
  t.equal(firmwareErrorOf(() => loadPrivateKey(keys.publicKey)).check, 'signing-key');
  t.equal(firmwareErrorOf(() => loadPrivateKey(rsa.privateKey)).check, 'signing-key');
  t.equal(firmwareErrorOf(() => loadPrivateKey(join(dir, 'absent.pem'))).check, 'missing-file');
  t.equal(keyId(loadPublicKey(keys.privateKey)), keyId(keys.publicKey), 'a private key yields its public half');
});

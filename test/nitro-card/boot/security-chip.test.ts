// The security chip refuses every tampered image with the check that failed, and measures good ones deterministically.
import t from 'tap';
import type { KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FirmwareError } from '../../../src/nitro-card/boot/firmware.ts';
import { signFirmware } from '../../../src/nitro-card/boot/build.ts';
import { PCR, replayEventLog } from '../../../src/nitro-card/boot/pcr.ts';
import { verifyAndMeasure } from '../../../src/nitro-card/boot/security-chip.ts';
import { buildImage, firmwareErrorOf, flipByte, rootKeys, scratchDir } from './image-fixture.ts';

const keys = rootKeys();

/** The FirmwareError a boot of `dir` throws; fails the test if the image is accepted. */
const refusal = (dir: string, rootPublicKey: KeyObject | string = keys.publicKey): FirmwareError =>
  firmwareErrorOf(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey }));

t.test('a freshly built image verifies and reports its manifest', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const r = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey });
  t.equal(r.manifest.version, '1.0.0');
  t.same(r.manifest.personalities.map((p) => `${p.vendorId}:${p.deviceId}`), ['1d0f:8061', '1d0f:cd00', '1af4:1041', '1d0f:ed00']);
  t.equal(r.firmware.sha256, r.manifest.payload.sha256);
  t.same(r.measurements.map((e) => [e.pcr, e.event]), [[0, 'boot-rom'], [1, 'manifest'], [2, 'payload'], [3, 'runtime-config']]);
  t.same(replayEventLog(r.measurements), r.pcrs, 'the event log replays to the PCRs');
  t.equal(r.pcrs[PCR.CARD_IDENTITY], '0'.repeat(96), 'no card data dir: PCR4 untouched');
});

t.test('the root key may be given as a PEM string or a PEM file path', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const file = join(scratchDir(t), 'root.pub.pem');
  writeFileSync(file, pem);
  const a = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: pem });
  const b = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: file });
  t.same(a.pcrs, b.pcrs);
});

t.test('a flipped byte in the payload is refused by payload-hash', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  flipByte(dir, 'payload.bin', 10);
  const e = refusal(dir);
  t.equal(e.check, 'payload-hash');
  t.match(e.message, /^firmware rejected: payload sha256 [0-9a-f]{12}… does not match manifest [0-9a-f]{12}…/);
});

t.test('a truncated payload is refused by payload-hash naming both sizes', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  writeFileSync(join(dir, 'payload.bin'), readFileSync(join(dir, 'payload.bin')).subarray(1));
  const e = refusal(dir);
  t.equal(e.check, 'payload-hash');
  t.match(e.message, /183 bytes but manifest pins 184/);
});

t.test('a flipped byte inside a manifest value is refused by signature', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  flipByte(dir, 'manifest.json', text.indexOf('"1.0.0"') + 1); // version 1.0.0 becomes 0.0.0
  t.equal(refusal(dir).check, 'signature');
});

t.test('a flipped byte that breaks the manifest JSON is refused by manifest-parse', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  flipByte(dir, 'manifest.json', 0); // '{' becomes 'z'
  const e = refusal(dir);
  t.equal(e.check, 'manifest-parse');
  t.match(e.message, /not JSON/);
});

t.test('re-indenting manifest.json does not change what is signed', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const path = join(dir, 'manifest.json');
  writeFileSync(path, JSON.stringify(JSON.parse(readFileSync(path, 'utf8'))));
  t.doesNotThrow(() => verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey }));
});

t.test('a flipped byte in the signature is refused by signature', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  flipByte(dir, 'signature.bin', 5);
  const e = refusal(dir);
  t.equal(e.check, 'signature');
  t.match(e.message, /does not verify over the manifest/);
});

t.test('a signature of the wrong length is refused by signature', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  writeFileSync(join(dir, 'signature.bin'), Buffer.alloc(63));
  t.match(refusal(dir).message, /63 bytes, an Ed25519 signature is 64/);
});

t.test('a missing signature is refused by missing-file', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  rmSync(join(dir, 'signature.bin'));
  const e = refusal(dir);
  t.equal(e.check, 'missing-file');
  t.match(e.message, /signature\.bin not readable/);
});

t.test('an image signed with another key is refused by wrong-key', async (t) => {
  const dir = buildImage(scratchDir(t), rootKeys());
  const e = refusal(dir);
  t.equal(e.check, 'wrong-key');
  t.match(e.message, /signed by key [0-9a-f]{12}… but the root of trust is [0-9a-f]{12}…/);
});

t.test('a signed manifest that breaks the schema is refused by manifest-parse naming the field', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8')) as { personalities: { vendorId: string }[] };
  m.personalities[0]!.vendorId = 'AMZN';
  writeFileSync(path, JSON.stringify(m));
  const e = firmwareErrorOf(() => signFirmware(dir, keys.privateKey));
  t.equal(e.check, 'manifest-parse');
  t.match(e.message, /manifest field personalities\[0\]\.vendorId "AMZN"/);
});

t.test('a root key that is not Ed25519 is refused by root-key', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const { generateKeyPairSync } = await import('node:crypto');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  t.equal(refusal(dir, rsa).check, 'root-key');
  t.equal(refusal(dir, '/nonexistent/root.pem').check, 'missing-file');
});

t.test('PCRs are deterministic for the same image, config and root key', async (t) => {
  const a = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys), rootPublicKey: keys.publicKey, runtimeConfig: { mode: 'offload' } });
  const b = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys), rootPublicKey: keys.publicKey, runtimeConfig: { mode: 'offload' } });
  t.same(a.pcrs, b.pcrs);
});

t.test('changing one stage changes its own PCR and leaves the unrelated ones alone', async (t) => {
  const base = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys), rootPublicKey: keys.publicKey }).pcrs;
  const otherRoot = rootKeys();
  const root = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), otherRoot), rootPublicKey: otherRoot.publicKey }).pcrs;
  t.not(root[0], base[0], 'another root key changes PCR0');
  t.equal(root[2], base[2], 'same payload keeps PCR2');

  const version = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys, { version: '1.0.1' }), rootPublicKey: keys.publicKey }).pcrs;
  t.same([version[0], version[2], version[3]], [base[0], base[2], base[3]]);
  t.not(version[1], base[1], 'another manifest changes PCR1');

  const payload = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys, { payload: Buffer.from('other') }), rootPublicKey: keys.publicKey }).pcrs;
  t.not(payload[2], base[2], 'another payload changes PCR2');
  t.not(payload[1], base[1], 'and PCR1, which pins the payload hash');

  const config = verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys), rootPublicKey: keys.publicKey, runtimeConfig: { mode: 'legacy' } }).pcrs;
  t.same(config.slice(0, 3), base.slice(0, 3));
  t.not(config[3], base[3], 'another runtime config changes PCR3');
});

t.test('with a card data dir the identity key is created once and measured into PCR4', async (t) => {
  const dir = buildImage(scratchDir(t), keys);
  const data = scratchDir(t);
  const first = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey, cardDataDir: data });
  const second = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey, cardDataDir: data });
  t.equal(first.identity?.created, true);
  t.equal(second.identity?.created, false);
  t.equal(first.identity?.keyId, second.identity?.keyId);
  t.not(first.pcrs[PCR.CARD_IDENTITY], '0'.repeat(96));
  t.same(first.pcrs, second.pcrs, 'same card, same image: same PCRs across boots');
  const other = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: keys.publicKey, cardDataDir: scratchDir(t) });
  t.not(other.pcrs[PCR.CARD_IDENTITY], first.pcrs[PCR.CARD_IDENTITY], 'another card has another identity');
});

// Attestation documents verify for the right nonce and refuse wrong nonces, tampering, forgery and staleness.
import t from 'tap';
import { generateKeyPairSync, sign } from 'node:crypto';
import { canonicalBytes } from '../../../src/nitro-card/boot/canonical-json.ts';
import { createAttestation, verifyAttestation, type AttestationDocument } from '../../../src/nitro-card/boot/attestation.ts';
import { verifyAndMeasure } from '../../../src/nitro-card/boot/security-chip.ts';
import { buildImage, rootKeys, scratchDir } from './image-fixture.ts';

const keys = rootKeys();
const NOW = new Date('2025-06-01T12:00:00.000Z');
const NONCE = 'c0ffee-nonce-0001';

function boot(t: { teardown(fn: () => void): void }) {
  return verifyAndMeasure({ firmwareDir: buildImage(scratchDir(t), keys), rootPublicKey: keys.publicKey, cardDataDir: scratchDir(t), runtimeConfig: { mode: 'offload', link: 'socket' } });
}

function attest(t: { teardown(fn: () => void): void }, nonce = NONCE): { doc: AttestationDocument; boot: ReturnType<typeof boot> } {
  const b = boot(t);
  const id = b.identity!;
  const doc = createAttestation({ nonce, pcrs: b.pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: id.publicKey, signingKey: id.privateKey, hostId: 'h-1', now: NOW });
  return { doc, boot: b };
}

/** JSON round trip, as the document travels over HTTP. */
const wire = (doc: AttestationDocument): AttestationDocument => JSON.parse(JSON.stringify(doc)) as AttestationDocument;

t.test('a document verifies with its nonce, the trusted root and the PCRs of the boot', async (t) => {
  const { doc, boot: b } = attest(t);
  const r = verifyAttestation(wire(doc), { nonce: NONCE, now: NOW, trustedRootKey: keys.publicKey, expectedPcrs: { 1: b.pcrs[1]!, 2: b.pcrs[2]! }, cardPublicKey: b.identity!.publicKey });
  t.equal(r.ok, true, r.ok ? '' : r.message);
  if (r.ok) {
    t.equal(r.body.hostId, 'h-1');
    t.equal(r.body.timestamp, NOW.toISOString());
    t.equal(r.body.firmware.version, '1.0.0');
    t.equal(r.body.eventLog.length, 5);
  }
});

t.test('a wrong nonce fails with nonce-mismatch', async (t) => {
  const r = verifyAttestation(attest(t).doc, { nonce: 'another-nonce', now: NOW });
  t.same(r.ok ? undefined : r.check, 'nonce-mismatch');
});

t.test('a tampered PCR in the document fails with signature', async (t) => {
  const doc = wire(attest(t).doc);
  (doc.body.pcrs as string[])[2] = 'ab'.repeat(48);
  const r = verifyAttestation(doc, { nonce: NONCE, now: NOW });
  t.same(r.ok ? undefined : r.check, 'signature');
});

t.test('a forged signature fails with signature', async (t) => {
  const doc = wire(attest(t).doc);
  const forger = generateKeyPairSync('ed25519').privateKey;
  const forged = { body: doc.body, signature: sign(null, canonicalBytes(doc.body), forger).toString('base64') };
  const r = verifyAttestation(forged, { nonce: NONCE, now: NOW });
  t.same(r.ok ? undefined : r.check, 'signature');
  t.match(r.ok ? '' : r.message, /^attestation rejected: signature does not verify under card key/);
});

t.test('a document re-signed by another card key with a consistent log fails the pin', async (t) => {
  const a = attest(t);
  const other = attest(t); // another card: its own key, measured into its own PCR4
  const r = verifyAttestation(other.doc, { nonce: NONCE, now: NOW, cardPublicKey: a.boot.identity!.publicKey });
  t.same(r.ok ? undefined : r.check, 'card-key-mismatch');
});

t.test('an event log that does not replay to the PCRs fails with event-log', async (t) => {
  const b = boot(t);
  const id = b.identity!;
  const pcrs = [...b.pcrs];
  pcrs[3] = '00'.repeat(48);
  const doc = createAttestation({ nonce: NONCE, pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: id.publicKey, signingKey: id.privateKey, hostId: 'h', now: NOW });
  const r = verifyAttestation(doc, { nonce: NONCE, now: NOW });
  t.same(r.ok ? undefined : r.check, 'event-log');
  t.match(r.ok ? '' : r.message, /PCR3/);
});

t.test('a signing key that was never measured at boot fails with event-log', async (t) => {
  const b = boot(t);
  const stranger = generateKeyPairSync('ed25519');
  const doc = createAttestation({ nonce: NONCE, pcrs: b.pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: stranger.publicKey, signingKey: stranger.privateKey, hostId: 'h', now: NOW });
  const r = verifyAttestation(doc, { nonce: NONCE, now: NOW });
  t.same(r.ok ? undefined : r.check, 'event-log');
  t.match(r.ok ? '' : r.message, /not measured into PCR4/);
});

t.test('an expected PCR that differs fails with pcr-mismatch naming the PCR', async (t) => {
  const r = verifyAttestation(attest(t).doc, { nonce: NONCE, now: NOW, expectedPcrs: { 2: 'ff'.repeat(48) } });
  t.same(r.ok ? undefined : r.check, 'pcr-mismatch');
  t.match(r.ok ? '' : r.message, /PCR2 is [0-9a-f]{12}…, expected ffffffffffff…/);
});

t.test('a boot that trusted another root fails with untrusted-root', async (t) => {
  const r = verifyAttestation(attest(t).doc, { nonce: NONCE, now: NOW, trustedRootKey: rootKeys().publicKey });
  t.same(r.ok ? undefined : r.check, 'untrusted-root');
});

t.test('an old or future-dated document fails with stale', async (t) => {
  const { doc } = attest(t);
  const old = verifyAttestation(doc, { nonce: NONCE, now: new Date(NOW.getTime() + 10 * 60_000) });
  t.same(old.ok ? undefined : old.check, 'stale');
  t.match(old.ok ? '' : old.message, /600 s old, limit 300 s/);
  const future = verifyAttestation(doc, { nonce: NONCE, now: new Date(NOW.getTime() - 5 * 60_000) });
  t.same(future.ok ? undefined : future.check, 'stale');
  t.equal(verifyAttestation(doc, { nonce: NONCE, now: new Date(NOW.getTime() + 10 * 60_000), maxAgeMs: 3_600_000 }).ok, true, 'maxAgeMs widens the window');
});

t.test('malformed documents fail with format, never a crash', async (t) => {
  const { doc } = attest(t);
  for (const bad of [null, 'text', {}, { body: {}, signature: 'x' }, { body: { ...doc.body, pcrs: 'x' }, signature: doc.signature },
    { body: { ...doc.body, cardPublicKey: 'AAAA' }, signature: doc.signature }, { body: { ...doc.body, eventLog: [{}] }, signature: doc.signature }]) {
    const r = verifyAttestation(bad, { nonce: NONCE, now: NOW });
    t.same(r.ok ? undefined : r.check, 'format', JSON.stringify(bad)?.slice(0, 60));
  }
});

t.test('createAttestation refuses a signing key that is not the card key', async (t) => {
  const b = boot(t);
  t.throws(() => createAttestation({ nonce: NONCE, pcrs: b.pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: b.identity!.publicKey, signingKey: generateKeyPairSync('ed25519').privateKey, hostId: 'h' }), /not the card identity key/);
  t.throws(() => createAttestation({ nonce: '', pcrs: b.pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: b.identity!.publicKey, signingKey: b.identity!.privateKey, hostId: 'h' }), /nonce/);
});

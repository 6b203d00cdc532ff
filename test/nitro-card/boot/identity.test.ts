// The card identity key: created on first boot with private permissions, then reused; bad key files are refused.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_KEY_FILE, loadOrCreateCardIdentity } from '../../../src/nitro-card/boot/identity.ts';
import { firmwareErrorOf, scratchDir } from './image-fixture.ts';

t.test('first boot creates identity.key.pem (0600); later boots load the same key', async (t) => {
  const dir = join(scratchDir(t), 'card-data');
  const first = loadOrCreateCardIdentity(dir);
  t.equal(first.created, true);
  t.equal(statSync(join(dir, IDENTITY_KEY_FILE)).mode & 0o777, 0o600);
  const again = loadOrCreateCardIdentity(dir);
  t.equal(again.created, false);
  t.equal(again.keyId, first.keyId);
  t.same(again.publicKeyDer, first.publicKeyDer);
  t.equal(first.publicKey.asymmetricKeyType, 'ed25519');
});

t.test('an unreadable or non-Ed25519 identity key is refused with card-identity', async (t) => {
  const junk = scratchDir(t);
  writeFileSync(join(junk, IDENTITY_KEY_FILE), 'garbage');
  t.match(firmwareErrorOf(() => loadOrCreateCardIdentity(junk)), { check: 'card-identity', message: /not a PEM private key/ });
  const rsa = scratchDir(t);
  const key = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(join(rsa, IDENTITY_KEY_FILE), key);
  t.match(firmwareErrorOf(() => loadOrCreateCardIdentity(rsa)), { check: 'card-identity', message: /is rsa, not ed25519/ });
});

// The card identity key: an Ed25519 key pair generated on a card's first boot and kept in its data dir. It signs
// attestation documents; its public key is measured into PCR4 so an attestation binds the key to the boot.
// Emulation note: real hardware keeps this key inside the chip and has it endorsed by the manufacturer; here it is a
// file, and nothing endorses it (docs/trust.md "What this does not prove").
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareError, keyId } from './firmware.ts';

export const IDENTITY_KEY_FILE = 'identity.key.pem';

export interface CardIdentity {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SPKI DER of the public key: the bytes measured into PCR4 and carried (base64) in attestation documents. */
  readonly publicKeyDer: Buffer;
  /** Hex SHA-256 of `publicKeyDer`. */
  readonly keyId: string;
  /** True when this call generated the key (first boot). */
  readonly created: boolean;
}

/** Load `<cardDataDir>/identity.key.pem`, generating it (mode 0600) if absent. Throws 'card-identity' if unusable. */
export function loadOrCreateCardIdentity(cardDataDir: string): CardIdentity {
  const path = join(cardDataDir, IDENTITY_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new FirmwareError('card-identity', `card identity key ${path} not readable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(cardDataDir, { recursive: true });
    // 'wx': if another process created the key in the meantime, fail rather than overwrite its identity.
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    return describe(privateKey, true);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new FirmwareError('card-identity', `card identity key ${path} is not a PEM private key (${(e as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new FirmwareError('card-identity', `card identity key ${path} is ${privateKey.asymmetricKeyType}, not ed25519`);
  }
  return describe(privateKey, false);
}

function describe(privateKey: KeyObject, created: boolean): CardIdentity {
  const publicKey = createPublicKey(privateKey);
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, publicKey, publicKeyDer, keyId: keyId(publicKey), created };
}

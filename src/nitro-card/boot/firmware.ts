// Firmware images on disk: the manifest schema, the error every boot check raises, and key/file loading.
// An image is a directory: manifest.json (pins the payload by SHA-256), payload.bin, signature.bin (Ed25519 over the
// canonical manifest bytes). See docs/trust.md.
import { createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from './pcr.ts';

export const FILES = { manifest: 'manifest.json', payload: 'payload.bin', signature: 'signature.bin' } as const;
export const MANIFEST_FORMAT = 'nitrolab-firmware/1';

const repoFirmware = fileURLToPath(new URL('../../../firmware/', import.meta.url));
/** The committed development image and its DEV-ONLY key pair. */
export const DEFAULT_FIRMWARE_DIR = join(repoFirmware, 'card');
export const DEV_ROOT_PUBLIC_KEY = join(repoFirmware, 'keys', 'dev-root.pub.pem');
export const DEV_ROOT_PRIVATE_KEY = join(repoFirmware, 'keys', 'dev-root.key.pem');

/** Which boot or verification check failed. Stable: tests, the CLI and the control plane match on it. */
export type FirmwareCheck =
  | 'missing-file' // an image file or key file is absent or unreadable
  | 'manifest-parse' // manifest.json is not JSON or does not match the schema
  | 'signature' // signature.bin is malformed or does not verify under the root key
  | 'wrong-key' // the manifest names a signer other than the trusted root key
  | 'payload-hash' // payload.bin differs from the SHA-256/size the manifest pins
  | 'root-key' // the trusted root public key is not a usable Ed25519 key
  | 'signing-key' // the private key given to build/sign is not a usable Ed25519 key
  | 'card-identity'; // the card identity key in the data dir is unreadable

export class FirmwareError extends Error {
  readonly check: FirmwareCheck;
  constructor(check: FirmwareCheck, message: string) {
    super(`firmware rejected: ${message}`);
    this.name = 'FirmwareError';
    this.check = check;
  }
}

/** A PCI function the card exposes (IDs in lower-case hex, as lspci prints them). */
export interface Personality {
  readonly name: string;
  readonly device: 'nvme' | 'virtio-net' | 'edu';
  readonly vendorId: string;
  readonly deviceId: string;
}

export interface FirmwareManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly version: string;
  readonly personalities: readonly Personality[];
  readonly payload: { readonly file: string; readonly format: string; readonly sha256: string; readonly size: number };
  /** How and when the image was built, and the key id (SHA-256 of the SPKI DER) of the key that signed it. */
  readonly build: {
    readonly builtAt: string;
    readonly builder: string;
    readonly node: string;
    readonly sourceCommit: string;
    readonly signer: string;
  };
}

/** Raw bytes of an image directory; throws 'missing-file' naming the first absent file. */
export function readImage(dir: string): { manifestBytes: Buffer; payload: Buffer; signature: Buffer } {
  const read = (name: string): Buffer => readImageFile(dir, name);
  return { manifestBytes: read(FILES.manifest), signature: read(FILES.signature), payload: read(FILES.payload) };
}

/** One file of an image directory; throws 'missing-file' naming it. */
export function readImageFile(dir: string, name: string): Buffer {
  try {
    return readFileSync(join(dir, name));
  } catch (e) {
    throw new FirmwareError('missing-file', `${name} not readable in ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Key id: hex SHA-256 of the public key's SubjectPublicKeyInfo DER. */
export function keyId(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
}

/** Load an Ed25519 public key from a PEM string, a KeyObject or a file path (a private key PEM also works). */
export function loadPublicKey(key: KeyObject | string, check: FirmwareCheck = 'root-key'): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPublicKey(pemOrFile(key, 'public key')) : key.type === 'private' ? createPublicKey(key) : key;
  } catch (e) {
    if (e instanceof FirmwareError) throw e;
    throw new FirmwareError(check, `public key is not a PEM key (${(e as Error).message})`);
  }
  if (k.asymmetricKeyType !== 'ed25519') throw new FirmwareError(check, `public key is ${k.asymmetricKeyType}, not ed25519`);
  return k;
}

/** Load an Ed25519 private key from a PEM string, a KeyObject or a file path. */
export function loadPrivateKey(key: KeyObject | string): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey(pemOrFile(key, 'private key')) : key;
  } catch (e) {
    if (e instanceof FirmwareError) throw e;
    throw new FirmwareError('signing-key', `private key is not a PEM private key (${(e as Error).message})`);
  }
  if (k.type !== 'private' || k.asymmetricKeyType !== 'ed25519') {
    throw new FirmwareError('signing-key', `signing key is a ${k.type} ${k.asymmetricKeyType} key, not an ed25519 private key`);
  }
  return k;
}

function pemOrFile(key: string, what: string): string {
  if (key.includes('-----BEGIN')) return key;
  try {
    return readFileSync(key, 'utf8');
  } catch (e) {
    throw new FirmwareError('missing-file', `${what} file ${key} not readable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Validate a parsed manifest against the schema; throws 'manifest-parse' naming the first bad field. */
export function parseManifest(json: unknown): FirmwareManifest {
  const m = obj(json, 'manifest');
  if (m['format'] !== MANIFEST_FORMAT) bad('format', `is ${JSON.stringify(m['format'])}, expected "${MANIFEST_FORMAT}"`);
  str(m, 'name', /^[a-z0-9][a-z0-9._-]{0,63}$/);
  str(m, 'version', /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
  const ps = m['personalities'];
  if (!Array.isArray(ps) || ps.length === 0) bad('personalities', 'must be a non-empty array');
  (ps as unknown[]).forEach((p, i) => {
    const o = obj(p, `personalities[${i}]`);
    str(o, 'name', /^[a-z0-9-]{1,32}$/, `personalities[${i}].`);
    if (o['device'] !== 'nvme' && o['device'] !== 'virtio-net' && o['device'] !== 'edu') bad(`personalities[${i}].device`, 'must be "nvme", "virtio-net" or "edu"');
    str(o, 'vendorId', /^[0-9a-f]{4}$/, `personalities[${i}].`);
    str(o, 'deviceId', /^[0-9a-f]{4}$/, `personalities[${i}].`);
  });
  const p = obj(m['payload'], 'payload');
  if (p['file'] !== FILES.payload) bad('payload.file', `is ${JSON.stringify(p['file'])}, images carry their payload as "${FILES.payload}"`);
  str(p, 'format', /^.{1,64}$/, 'payload.');
  str(p, 'sha256', /^[0-9a-f]{64}$/, 'payload.');
  if (!Number.isSafeInteger(p['size']) || (p['size'] as number) < 0) bad('payload.size', 'must be a non-negative integer');
  const b = obj(m['build'], 'build');
  for (const k of ['builtAt', 'builder', 'node', 'sourceCommit']) str(b, k, /^.{1,200}$/, 'build.');
  if (Number.isNaN(Date.parse(b['builtAt'] as string))) bad('build.builtAt', 'is not an ISO date');
  str(b, 'signer', /^[0-9a-f]{64}$/, 'build.');
  return json as FirmwareManifest;
}

function bad(field: string, why: string): never {
  throw new FirmwareError('manifest-parse', `manifest field ${field} ${why}`);
}
function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'must be an object');
  return v as Record<string, unknown>;
}
function str(o: Record<string, unknown>, k: string, re: RegExp, prefix = ''): void {
  const v = o[k];
  if (typeof v !== 'string') bad(prefix + k, v === undefined ? 'is missing' : 'must be a string');
  if (!re.test(v as string)) bad(prefix + k, `${JSON.stringify(v)} does not match ${re.source}`);
}

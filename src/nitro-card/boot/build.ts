// Build and sign card firmware images: payload.bin, manifest.json pinning its SHA-256, signature.bin (Ed25519 over
// the canonical manifest bytes). `nitrolab firmware build|sign|keygen` (src/cli/firmware.ts) is the front end.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalBytes, prettyJson } from './canonical-json.ts';
import {
  FILES,
  FirmwareError,
  keyId,
  loadPrivateKey,
  loadPublicKey,
  MANIFEST_FORMAT,
  parseManifest,
  readImageFile,
  type FirmwareManifest,
  type Personality,
} from './firmware.ts';
import { buildPayload, CARD_CODE_DIRS, PAYLOAD_FORMAT, REPO_ROOT, type BuildPayloadOptions } from './payload.ts';
import { sha256Hex } from './pcr.ts';

export const BUILDER = 'nitrolab firmware build (src/nitro-card/boot/build.ts)';

/** The PCI functions the card exposes: EBS and instance-store NVMe (Amazon 1d0f), a virtio-net 1.x modern device, and
 *  the teaching device (src/devices/edu, docs/labs/edu-device.md). */
export const CARD_PERSONALITIES: readonly Personality[] = [
  { name: 'nvme-ebs', device: 'nvme', vendorId: '1d0f', deviceId: '8061' },
  { name: 'nvme-instance-store', device: 'nvme', vendorId: '1d0f', deviceId: 'cd00' },
  { name: 'virtio-net', device: 'virtio-net', vendorId: '1af4', deviceId: '1041' },
  { name: 'edu', device: 'edu', vendorId: '1d0f', deviceId: 'ed00' },
];

export interface BuildOptions {
  readonly outDir: string;
  /** Ed25519 private key: KeyObject, PEM string or path to a PEM file. */
  readonly signingKey: KeyObject | string;
  readonly name?: string;
  readonly version?: string;
  /** ISO time recorded as build.builtAt; default $SOURCE_DATE_EPOCH if set, else now. */
  readonly builtAt?: string;
  readonly sourceCommit?: string;
  readonly personalities?: readonly Personality[];
  /** Payload bytes to ship as-is; default: buildPayload(payloadOptions). */
  readonly payload?: Uint8Array;
  readonly payloadOptions?: BuildPayloadOptions;
}

/** Build payload + manifest into outDir and sign them. Returns the manifest written. */
export function buildFirmware(opts: BuildOptions): FirmwareManifest {
  const key = loadPrivateKey(opts.signingKey);
  const payload = opts.payload ?? buildPayload(opts.payloadOptions);
  const manifest: FirmwareManifest = {
    format: MANIFEST_FORMAT,
    name: opts.name ?? 'nitrolab-card',
    version: opts.version ?? '0.1.0',
    personalities: opts.personalities ?? CARD_PERSONALITIES,
    payload: { file: FILES.payload, format: opts.payload ? 'opaque' : PAYLOAD_FORMAT, sha256: sha256Hex(payload), size: payload.length },
    build: {
      builtAt: opts.builtAt ?? defaultBuiltAt(),
      builder: BUILDER,
      node: process.version,
      sourceCommit: opts.sourceCommit ?? sourceCommit(),
      signer: keyId(loadPublicKey(key, 'signing-key')),
    },
  };
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, FILES.payload), payload);
  return writeSigned(opts.outDir, manifest, key);
}

/**
 * Re-sign an existing image with `signingKey`: re-pin payload.bin's SHA-256 and size, record the signer, rewrite
 * manifest.json canonically and write signature.bin. The way to sign an image after editing its payload or manifest.
 */
export function signFirmware(dir: string, signingKey: KeyObject | string): FirmwareManifest {
  const key = loadPrivateKey(signingKey);
  const payload = readImageFile(dir, FILES.payload);
  const manifestBytes = readImageFile(dir, FILES.manifest);
  let json: { payload?: object; build?: object };
  try {
    json = JSON.parse(manifestBytes.toString('utf8')) as typeof json;
  } catch (e) {
    throw new FirmwareError('manifest-parse', `manifest.json is not JSON (${(e as Error).message})`);
  }
  const signer = keyId(loadPublicKey(key, 'signing-key'));
  const updated = {
    ...json,
    payload: { ...json.payload, sha256: sha256Hex(payload), size: payload.length },
    build: { ...json.build, signer },
  };
  return writeSigned(dir, parseManifest(updated), key);
}

function writeSigned(dir: string, manifest: FirmwareManifest, key: KeyObject): FirmwareManifest {
  writeFileSync(join(dir, FILES.manifest), prettyJson(manifest));
  writeFileSync(join(dir, FILES.signature), sign(null, canonicalBytes(manifest), key));
  return manifest;
}

/** Generate an Ed25519 key pair as PEM files (private key mode 0600). Refuses to overwrite existing files. */
export function generateSigningKeyPair(privatePath: string, publicPath: string): { keyId: string } {
  for (const p of [privatePath, publicPath]) {
    if (existsSync(p)) throw Object.assign(new Error(`${p} already exists; not overwriting a key`), { code: 'EEXIST' });
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(privatePath), { recursive: true });
  mkdirSync(dirname(publicPath), { recursive: true });
  writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
  return { keyId: keyId(publicKey) };
}

function defaultBuiltAt(): string {
  const epoch = process.env['SOURCE_DATE_EPOCH'];
  if (epoch !== undefined && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date().toISOString();
}

/** `git rev-parse HEAD` of the repository, "+dirty" when the card sources have uncommitted changes, or "unknown"
 * outside a git checkout. (The payload lists every file's hash either way.) */
export function sourceCommit(): string {
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--', ...CARD_CODE_DIRS) === '' ? head : `${head}+dirty`;
  } catch {
    return 'unknown';
  }
}

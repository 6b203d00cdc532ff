// The security chip's boot sequence: verify the firmware image against the root key, refuse it on any failed check,
// and measure every stage into the PCR bank (reference/nitro.md §1.5: boot from a hardware root of trust, every
// component signed; measurement and attestation sit in the controller).
//
//   boot ROM ──measure──▶ PCR0   (ROM identity + the root key it trusts)
//      │ verify signature.bin over canonical(manifest.json) with the root key
//      ▼
//   manifest ──measure──▶ PCR1   (canonical manifest bytes)
//      │ check SHA-256 and size of payload.bin against the manifest
//      ▼
//   payload  ──measure──▶ PCR2
//   runtime config ─────▶ PCR3   (card mode, link, … as canonical JSON)
//   card identity key ──▶ PCR4   (SPKI DER of the per-card Ed25519 key)
import { verify, type KeyObject } from 'node:crypto';
import { canonicalBytes, type JsonValue } from './canonical-json.ts';
import { FirmwareError, keyId, loadPublicKey, parseManifest, readImage, type FirmwareManifest } from './firmware.ts';
import { loadOrCreateCardIdentity, type CardIdentity } from './identity.ts';
import { PCR, PcrBank, sha256Hex, short, type MeasurementEvent, type PcrValues } from './pcr.ts';

export const BOOT_ROM = { rom: 'nitrolab-security-chip', romVersion: 1 } as const;
const ED25519_SIGNATURE_BYTES = 64;

export interface VerifyAndMeasureOptions {
  readonly firmwareDir: string;
  /** The root of trust: a KeyObject, a PEM string or a path to a PEM file. */
  readonly rootPublicKey: KeyObject | string;
  /** Measured into PCR3; defaults to {}. */
  readonly runtimeConfig?: { readonly [k: string]: JsonValue };
  /** When given, the card identity key is loaded (or created on first boot) there and measured into PCR4. */
  readonly cardDataDir?: string;
}

export interface BootMeasurement {
  readonly manifest: FirmwareManifest;
  readonly pcrs: PcrValues;
  /** The event log: one entry per extend, in order. Replaying it gives `pcrs`. */
  readonly measurements: readonly MeasurementEvent[];
  /** What attestation reports as "the firmware": name, version, payload SHA-256 and signer key id. */
  readonly firmware: { readonly name: string; readonly version: string; readonly sha256: string; readonly signer: string };
  readonly identity?: CardIdentity;
}

/** The bytes measured into PCR0: which ROM ran and which root key it was built to trust. */
export function bootRomIdentity(rootPublicKey: KeyObject): Buffer {
  return canonicalBytes({ ...BOOT_ROM, rootKey: keyId(rootPublicKey) });
}

/** Verify a firmware image and measure the boot. Throws FirmwareError (with `check`) and measures nothing on refusal. */
export function verifyAndMeasure(opts: VerifyAndMeasureOptions): BootMeasurement {
  const root = loadPublicKey(opts.rootPublicKey, 'root-key');
  const rootId = keyId(root);
  const { manifest, manifestCanonical, payload } = verifyImage(opts.firmwareDir, root);

  const bank = new PcrBank();
  bank.measure(PCR.BOOT_ROM, 'boot-rom', `${BOOT_ROM.rom} v${BOOT_ROM.romVersion}, root key ${short(rootId)}`, bootRomIdentity(root));
  bank.measure(PCR.MANIFEST, 'manifest', `${manifest.name} ${manifest.version}`, manifestCanonical);
  bank.measure(PCR.PAYLOAD, 'payload', `${manifest.payload.file} ${manifest.payload.size} bytes`, payload);
  const config = opts.runtimeConfig ?? {};
  bank.measure(PCR.RUNTIME_CONFIG, 'runtime-config', Object.keys(config).sort().join(',') || '(none)', canonicalBytes(config));
  let identity: CardIdentity | undefined;
  if (opts.cardDataDir !== undefined) {
    identity = loadOrCreateCardIdentity(opts.cardDataDir);
    bank.measure(PCR.CARD_IDENTITY, 'card-identity', `ed25519 ${short(identity.keyId)}${identity.created ? ' (generated)' : ''}`, identity.publicKeyDer);
  }
  const firmware = { name: manifest.name, version: manifest.version, sha256: manifest.payload.sha256, signer: manifest.build.signer };
  return { manifest, pcrs: bank.values(), measurements: bank.eventLog(), firmware, ...(identity ? { identity } : {}) };
}

/** The verification half alone, in check order: files, manifest JSON, signature (or wrong key), schema, payload. */
export function verifyImage(
  firmwareDir: string,
  rootPublicKey: KeyObject,
): { manifest: FirmwareManifest; manifestCanonical: Buffer; payload: Buffer } {
  const { manifestBytes, payload, signature } = readImage(firmwareDir);
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch (e) {
    throw new FirmwareError('manifest-parse', `manifest.json is not JSON (${(e as Error).message})`);
  }
  const manifestCanonical = canonicalBytes(json);
  if (signature.length !== ED25519_SIGNATURE_BYTES) {
    throw new FirmwareError('signature', `signature.bin is ${signature.length} bytes, an Ed25519 signature is ${ED25519_SIGNATURE_BYTES}`);
  }
  if (!verify(null, manifestCanonical, rootPublicKey, signature)) {
    const rootId = keyId(rootPublicKey);
    const signer = signerOf(json);
    if (signer !== undefined && signer !== rootId) {
      throw new FirmwareError('wrong-key', `manifest was signed by key ${short(signer)} but the root of trust is ${short(rootId)}`);
    }
    throw new FirmwareError('signature', `signature.bin does not verify over the manifest with root key ${short(rootId)}`);
  }
  const manifest = parseManifest(json);
  if (payload.length !== manifest.payload.size) {
    throw new FirmwareError('payload-hash', `payload is ${payload.length} bytes but manifest pins ${manifest.payload.size}`);
  }
  const actual = sha256Hex(payload);
  if (actual !== manifest.payload.sha256) {
    throw new FirmwareError('payload-hash', `payload sha256 ${short(actual)} does not match manifest ${short(manifest.payload.sha256)}`);
  }
  return { manifest, manifestCanonical, payload };
}

function signerOf(json: unknown): string | undefined {
  const s = (json as { build?: { signer?: unknown } } | null)?.build?.signer;
  return typeof s === 'string' ? s : undefined;
}

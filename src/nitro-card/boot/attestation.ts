// Attestation documents: the card's signed statement of what it booted (PCRs + event log + firmware) for a caller's
// nonce. JSON rather than COSE/CBOR (which Nitro Enclaves use) so students can read one with curl and jq and no extra
// package is needed; the signed bytes are the canonical JSON of `body`, so re-encoding in transit does not break it.
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalBytes } from './canonical-json.ts';
import { keyId, loadPublicKey } from './firmware.ts';
import { PCR, PCR_DIGEST, extendValue, replayEventLog, sha384, short, type MeasurementEvent, type PcrValues } from './pcr.ts';
import { bootRomIdentity } from './security-chip.ts';

export const ATTESTATION_FORMAT = 'nitrolab-attestation/1';
export const DEFAULT_MAX_AGE_MS = 5 * 60_000;
const MAX_CLOCK_SKEW_MS = 60_000;

export interface AttestationBody {
  readonly format: typeof ATTESTATION_FORMAT;
  readonly hostId: string;
  readonly nonce: string;
  /** ISO 8601 time the card signed the document. */
  readonly timestamp: string;
  readonly firmware: { readonly name?: string; readonly version: string; readonly sha256: string; readonly signer?: string };
  readonly digest: typeof PCR_DIGEST;
  /** PCR values, hex, indexed by PCR number. */
  readonly pcrs: PcrValues;
  readonly eventLog: readonly MeasurementEvent[];
  /** The card identity public key, base64 SPKI DER. */
  readonly cardPublicKey: string;
}

export interface AttestationDocument {
  readonly body: AttestationBody;
  /** Base64 Ed25519 signature by the card identity key over canonical JSON of `body`. */
  readonly signature: string;
}

export interface CreateAttestationOptions {
  readonly nonce: string;
  readonly pcrs: PcrValues;
  readonly eventLog: readonly MeasurementEvent[];
  readonly firmware: AttestationBody['firmware'];
  readonly cardPublicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly hostId: string;
  readonly now?: Date;
}

export function createAttestation(o: CreateAttestationOptions): AttestationDocument {
  if (o.nonce.length === 0 || o.nonce.length > 512) throw new RangeError(`nonce must be 1..512 characters, got ${o.nonce.length}`);
  if (keyId(createPublicKey(o.signingKey)) !== keyId(o.cardPublicKey)) throw new Error('signing key is not the card identity key');
  const body: AttestationBody = {
    format: ATTESTATION_FORMAT,
    hostId: o.hostId,
    nonce: o.nonce,
    timestamp: (o.now ?? new Date()).toISOString(),
    firmware: o.firmware,
    digest: PCR_DIGEST,
    pcrs: o.pcrs,
    eventLog: o.eventLog,
    cardPublicKey: o.cardPublicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
  return { body, signature: sign(null, canonicalBytes(body), o.signingKey).toString('base64') };
}

export type AttestationCheck =
  | 'format' // not an attestation document, or a field has the wrong type
  | 'signature' // the signature does not verify under the document's card key
  | 'card-key-mismatch' // signed by a card key other than the one pinned
  | 'event-log' // the event log does not replay to the PCRs, or the card key was not measured
  | 'nonce-mismatch'
  | 'stale' // older than maxAgeMs, or dated in the future beyond clock skew
  | 'untrusted-root' // PCR0 says the boot ROM trusted a different root key
  | 'pcr-mismatch'; // a PCR differs from the expected value

export type AttestationResult =
  | { readonly ok: true; readonly body: AttestationBody }
  | { readonly ok: false; readonly check: AttestationCheck; readonly message: string };

export interface VerifyAttestationOptions {
  readonly nonce: string;
  /** PCR number → expected hex value; only the PCRs named are compared. */
  readonly expectedPcrs?: Readonly<Record<number, string>>;
  /** The firmware root key the card's boot ROM must have trusted (checked through PCR0). */
  readonly trustedRootKey?: KeyObject | string;
  /** Pin the card identity key (trust on first use). */
  readonly cardPublicKey?: KeyObject | string;
  readonly now?: Date;
  readonly maxAgeMs?: number;
}

export function verifyAttestation(doc: unknown, opts: VerifyAttestationOptions): AttestationResult {
  const fail = (check: AttestationCheck, message: string): AttestationResult => ({ ok: false, check, message: `attestation rejected: ${message}` });
  const shapeError = checkShape(doc);
  if (shapeError !== undefined) return fail('format', shapeError);
  const { body, signature } = doc as AttestationDocument;

  let cardKey: KeyObject;
  try {
    cardKey = createPublicKey({ key: Buffer.from(body.cardPublicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return fail('format', 'cardPublicKey is not a base64 SPKI public key');
  }
  if (cardKey.asymmetricKeyType !== 'ed25519') return fail('format', `cardPublicKey is ${cardKey.asymmetricKeyType}, not ed25519`);
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64 || !verify(null, canonicalBytes(body), cardKey, sig)) {
    return fail('signature', `signature does not verify under card key ${short(keyId(cardKey))}`);
  }
  if (opts.cardPublicKey !== undefined) {
    const pinned = keyId(loadPublicKey(opts.cardPublicKey));
    if (pinned !== keyId(cardKey)) return fail('card-key-mismatch', `signed by card key ${short(keyId(cardKey))}, expected ${short(pinned)}`);
  }

  let replayed: PcrValues;
  try {
    replayed = replayEventLog(body.eventLog);
  } catch (e) {
    return fail('event-log', (e as Error).message);
  }
  const differs = replayed.findIndex((v, i) => v !== body.pcrs[i]);
  if (differs >= 0 || replayed.length !== body.pcrs.length) {
    return fail('event-log', `event log replays PCR${Math.max(differs, 0)} to ${short(replayed[Math.max(differs, 0)] ?? '')}, document says ${short(body.pcrs[Math.max(differs, 0)] ?? '')}`);
  }
  const keyDigest = sha384(cardKey.export({ type: 'spki', format: 'der' })).toString('hex');
  if (!body.eventLog.some((e) => e.pcr === PCR.CARD_IDENTITY && e.digest === keyDigest)) {
    return fail('event-log', `card key ${short(keyId(cardKey))} was not measured into PCR${PCR.CARD_IDENTITY} at boot`);
  }

  if (body.nonce !== opts.nonce) {
    const show = (n: string): string => JSON.stringify(n.length > 64 ? `${n.slice(0, 64)}…` : n);
    return fail('nonce-mismatch', `nonce ${show(body.nonce)} is not the one sent (${show(opts.nonce)})`);
  }
  const age = (opts.now ?? new Date()).getTime() - Date.parse(body.timestamp);
  const maxAge = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (age > maxAge) return fail('stale', `document is ${Math.round(age / 1000)} s old, limit ${Math.round(maxAge / 1000)} s`);
  if (age < -MAX_CLOCK_SKEW_MS) return fail('stale', `document is dated ${Math.round(-age / 1000)} s in the future`);

  if (opts.trustedRootKey !== undefined) {
    const root = loadPublicKey(opts.trustedRootKey);
    const expected = extendValue(Buffer.alloc(48), sha384(bootRomIdentity(root))).toString('hex');
    if (body.pcrs[PCR.BOOT_ROM] !== expected) {
      return fail('untrusted-root', `PCR0 ${short(body.pcrs[PCR.BOOT_ROM] ?? '')} is not a boot ROM trusting root key ${short(keyId(root))} (${short(expected)})`);
    }
  }
  for (const [index, want] of Object.entries(opts.expectedPcrs ?? {})) {
    const got = body.pcrs[Number(index)];
    if (got !== want.toLowerCase()) return fail('pcr-mismatch', `PCR${index} is ${short(got ?? '(absent)')}, expected ${short(want)}`);
  }
  return { ok: true, body };
}

function checkShape(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return 'document is not a JSON object';
  const d = doc as Partial<AttestationDocument>;
  if (typeof d.signature !== 'string') return 'signature is missing';
  const b = d.body as Partial<AttestationBody> | undefined;
  if (typeof b !== 'object' || b === null) return 'body is missing';
  if (b.format !== ATTESTATION_FORMAT) return `format is ${JSON.stringify(b.format)}, expected "${ATTESTATION_FORMAT}"`;
  for (const k of ['hostId', 'nonce', 'timestamp', 'cardPublicKey'] as const) if (typeof b[k] !== 'string') return `body.${k} is not a string`;
  if (Number.isNaN(Date.parse(b.timestamp as string))) return 'body.timestamp is not an ISO date';
  if (!Array.isArray(b.pcrs) || !b.pcrs.every((p) => typeof p === 'string')) return 'body.pcrs is not an array of hex strings';
  if (!Array.isArray(b.eventLog)) return 'body.eventLog is not an array';
  for (const [i, e] of b.eventLog.entries()) {
    const ev = e as Partial<MeasurementEvent> | null;
    if (typeof ev?.pcr !== 'number' || typeof ev.digest !== 'string' || typeof ev.event !== 'string' || typeof ev.detail !== 'string') {
      return `body.eventLog[${i}] is not {pcr, event, detail, digest}`;
    }
  }
  const f = b.firmware as Partial<AttestationBody['firmware']> | undefined;
  if (typeof f?.version !== 'string' || typeof f.sha256 !== 'string') return 'body.firmware needs version and sha256';
  return undefined;
}

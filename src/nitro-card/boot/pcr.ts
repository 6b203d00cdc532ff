// Measured boot: a bank of SHA-384 Platform Configuration Registers and the event log that explains them.
// Extend follows TPM 2.0 / Nitro Enclaves: PCR[i] = SHA-384(PCR[i] || SHA-384(data)); every PCR starts as 48 zero bytes.
import { createHash } from 'node:crypto';

/** What each register holds (docs/trust.md §PCRs). */
export const PCR = {
  BOOT_ROM: 0, // security-chip ROM identity and the root key it trusts
  MANIFEST: 1, // canonical bytes of the signed firmware manifest
  PAYLOAD: 2, // firmware payload bytes
  RUNTIME_CONFIG: 3, // card runtime configuration (mode, link, …) as canonical JSON
  CARD_IDENTITY: 4, // the card identity public key (SPKI DER)
} as const;
export type PcrIndex = (typeof PCR)[keyof typeof PCR];
export const PCR_COUNT = 5;
export const PCR_DIGEST = 'SHA384';
export const PCR_BYTES = 48;

/** One measurement: which PCR, what was measured (a short name and a human detail), and SHA-384 of the data. */
export interface MeasurementEvent {
  readonly pcr: number;
  readonly event: string;
  readonly detail: string;
  /** Hex SHA-384 of the measured bytes (what is extended, not the bytes themselves). */
  readonly digest: string;
}

/** PCR values as lower-case hex, indexed by PCR number. */
export type PcrValues = readonly string[];

export function sha384(data: Uint8Array): Buffer {
  return createHash('sha384').update(data).digest();
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The extend operation on raw values: new = SHA-384(old || digest). */
export function extendValue(old: Uint8Array, digest: Uint8Array): Buffer {
  return createHash('sha384').update(old).update(digest).digest();
}

export class PcrBank {
  readonly #values: Buffer[] = Array.from({ length: PCR_COUNT }, () => Buffer.alloc(PCR_BYTES));
  readonly #log: MeasurementEvent[] = [];

  /** Measure `data` into PCR `pcr` and record the event. Returns the event. */
  measure(pcr: PcrIndex, event: string, detail: string, data: Uint8Array): MeasurementEvent {
    return this.extendDigest(pcr, event, detail, sha384(data));
  }

  /** Extend with an already-computed SHA-384 digest (event-log replay uses this). */
  extendDigest(pcr: number, event: string, detail: string, digest: Uint8Array): MeasurementEvent {
    const old = this.#values[pcr];
    if (old === undefined) throw new RangeError(`PCR${pcr} does not exist (bank has PCR0..PCR${PCR_COUNT - 1})`);
    if (digest.length !== PCR_BYTES) throw new RangeError(`PCR${pcr} extend needs a ${PCR_BYTES}-byte digest, got ${digest.length}`);
    this.#values[pcr] = extendValue(old, digest);
    const e: MeasurementEvent = { pcr, event, detail, digest: Buffer.from(digest).toString('hex') };
    this.#log.push(e);
    return e;
  }

  /** Current values, hex. */
  values(): PcrValues {
    return this.#values.map((v) => v.toString('hex'));
  }

  eventLog(): readonly MeasurementEvent[] {
    return [...this.#log];
  }
}

/** Recompute PCR values from an event log; throws RangeError on an event that names no PCR or has a bad digest. */
export function replayEventLog(log: readonly MeasurementEvent[]): PcrValues {
  const bank = new PcrBank();
  for (const e of log) {
    if (!/^[0-9a-f]{96}$/.test(e.digest)) throw new RangeError(`event "${e.event}" digest is not 96 hex digits of SHA-384`);
    bank.extendDigest(e.pcr, e.event, e.detail, Buffer.from(e.digest, 'hex'));
  }
  return bank.values();
}

/** Short form for messages: first 12 hex digits and an ellipsis. */
export function short(hex: string): string {
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

/** One line per PCR: its value and the events that extended it (for CLI output and logs). */
export function describePcrs(pcrs: PcrValues, log: readonly MeasurementEvent[]): string[] {
  return pcrs.map((value, i) => {
    const events = log.filter((e) => e.pcr === i).map((e) => `${e.event}: ${e.detail}`);
    return `PCR${i} ${value}  ${events.length > 0 ? events.join('; ') : '(not measured)'}`;
  });
}

// Canonical JSON: the exact bytes that get signed (firmware manifests, attestation bodies).
// Keys sorted by UTF-16 code unit, no whitespace, UTF-8. Re-serialising a parsed document gives the same bytes, so a
// document may be pretty-printed on disk or re-encoded by an HTTP server and still verify.

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** Serialise `value` canonically. Throws on values JSON cannot carry exactly (undefined, NaN, functions, bigint). */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

/** Canonical bytes of `value` (UTF-8). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/** Pretty form for files people read: canonical key order, two-space indent, trailing newline. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(value)), null, 2)}\n`;
}

function encode(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${path} is ${value}, not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${encode(v, `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${path} has type ${typeof value}, which JSON cannot carry`);
  }
}

// Values from a JSON Schema (the subset fastify/typebox emit into the OpenAPI document): a valid value, or one broken
// in a single, named way (a missing required property, a wrong type, a value past a bound, an extra property).
import type { Rng } from './rng.ts';

export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number; maxItems?: number;
  minLength?: number; maxLength?: number; pattern?: string;
  minimum?: number; maximum?: number;
  enum?: unknown[]; const?: unknown;
  anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[];
  default?: unknown;
  nullable?: boolean;
}

/** Strings that satisfy the patterns nitrolab uses (ids, device names, CIDRs), tried before random text. */
const PLAUSIBLE = ['i-0123456789abcdef0', 'vol-0123456789abcdef0', 'sg-0123456789abcdef0', 'sgr-0123456789abcdef0', '/dev/sdf', '/dev/xvdc',
  'm5.large', 't3.micro', 'c5.xlarge', '10.0.0.0/16', '0.0.0.0/0', 'tcp', 'udp', 'icmp', 'all', 'ingress', 'egress', 'default', 'fio --name=t'];

function matches(pattern: string | undefined, s: string): boolean {
  if (pattern === undefined) return true;
  try { return new RegExp(pattern, 'u').test(s); } catch { return true; }
}

export function validValue(s: Schema, r: Rng, depth = 0): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum !== undefined && s.enum.length > 0) return r.pick(s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts !== undefined && alts.length > 0) return validValue(r.pick(alts), r, depth);
  if (s.allOf !== undefined && s.allOf.length > 0) return validValue(s.allOf[0]!, r, depth);
  const type = Array.isArray(s.type) ? r.pick(s.type) : s.type ?? (s.properties ? 'object' : 'string');
  switch (type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if ((s.required ?? []).includes(k) || (depth < 4 && r.chance(0.6))) o[k] = validValue(v, r, depth + 1);
      }
      return o;
    }
    case 'array': {
      const lo = s.minItems ?? 0;
      const hi = Math.min(s.maxItems ?? lo + 3, lo + 3);
      return Array.from({ length: lo + r.int(hi - lo + 1) }, () => validValue(s.items ?? {}, r, depth + 1));
    }
    case 'integer': {
      const lo = s.minimum ?? 0;
      const hi = s.maximum ?? lo + 100;
      return r.chance(0.3) ? r.pick([lo, hi]) : lo + r.int(Math.min(hi - lo, 1000) + 1);
    }
    case 'number': return (s.minimum ?? 0) + r.next() * 10;
    case 'boolean': return r.chance(0.5);
    case 'null': return null;
    default: {
      const fits = PLAUSIBLE.filter((p) => matches(s.pattern, p) && p.length >= (s.minLength ?? 0) && p.length <= (s.maxLength ?? Infinity));
      if (fits.length > 0 && r.chance(0.8)) return r.pick(fits);
      const len = Math.max(s.minLength ?? 0, Math.min(s.maxLength ?? 12, 1 + r.int(12)));
      return 'x'.repeat(len);
    }
  }
}

const WRONG = [null, true, 0, -1, 1.5, 2 ** 53, -(2 ** 31), '', 'x'.repeat(70000), [], {}, [1, 'a'], { a: { b: [] } }, '\u0000', '../../etc/passwd', '$(reboot)', NaN];

/** One mutation of `v` (a value valid for `s`), at a random depth. */
export function brokenValue(s: Schema, v: unknown, r: Rng): unknown {
  if (r.chance(0.15)) return r.pick(WRONG);
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && s.properties) {
    const o = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(s.properties);
    const k = r.next();
    if (k < 0.25 && (s.required ?? []).length > 0) delete o[r.pick(s.required!)];
    else if (k < 0.4) o[r.pick(['extra', '__proto__', 'constructor', 'instanceId', 'hostId', 'state'])] = r.pick(WRONG);
    else if (keys.length > 0) {
      const key = r.pick(keys);
      o[key] = brokenValue(s.properties[key]!, o[key] ?? validValue(s.properties[key]!, r), r);
    }
    return o;
  }
  if (Array.isArray(v) && s.items) {
    const k = r.next();
    if (k < 0.3) return Array.from({ length: (s.maxItems ?? 20) + 1 + r.int(3) }, () => validValue(s.items!, r));
    if (k < 0.5) return [];
    if (v.length > 0) { const a = [...v]; const i = r.int(a.length); a[i] = brokenValue(s.items, a[i], r); return a; }
    return [r.pick(WRONG)];
  }
  if (typeof v === 'number') return r.pick([(s.maximum ?? 2 ** 31) + 1, (s.minimum ?? 0) - 1, 0.5, -0, 1e308, r.u32(), String(v)]);
  if (typeof v === 'string') return r.pick(['', 'x'.repeat((s.maxLength ?? 256) + 1), v + '\n', v.toUpperCase(), `${v}'; DROP TABLE instances;--`, '\ud800', 7]);
  return r.pick(WRONG);
}

// Helpers shared by shell commands: size parsing (dd and fio suffixes), human-readable sizes, column tables.

const BINARY: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `4k`, `4K`, `4KiB` = 4096; `1M` = 1 MiB; dd's `kB`/`MB` are decimal; `512` = 512. Returns NaN when malformed.
 */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?$/u.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const decimal = m[3] === 'B' && unit !== '';
  const mult = decimal ? 1000 ** ['', 'k', 'm', 'g', 't'].indexOf(unit) : (BINARY[unit] ?? NaN);
  const v = n * mult;
  return Number.isSafeInteger(v) ? v : NaN;
}

/** `runtime=10s`, `500ms`, `2m`, bare number = seconds. Returns milliseconds, or NaN. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/u.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'ms': return n;
    case 'm': return n * 60_000;
    case 'h': return n * 3_600_000;
    default: return n * 1000;
  }
}

/** lsblk style: 8G, 512M, 4K, 100B (binary units, one decimal when < 10). */
export function humanSize(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 || v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return `${text}${units[i]}`;
}

/** dd style decimal + binary: `66 kB, 64 KiB`. */
export function ddSize(bytes: number): string {
  const dec = ['B', 'kB', 'MB', 'GB', 'TB'];
  const bin = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const scale = (base: number, names: string[]): string => {
    let v = bytes;
    let i = 0;
    while (v >= base && i < names.length - 1) { v /= base; i++; }
    return `${i === 0 ? v : v < 10 ? v.toFixed(1) : Math.round(v)} ${names[i]}`;
  };
  return bytes < 1000 ? `${bytes} bytes` : `${scale(1000, dec)}, ${scale(1024, bin)}`;
}

/** Left-aligned columns separated by one space, widths from the widest cell. */
export function table(rows: readonly (readonly string[])[], rightAlign: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => {
    const w = widths[i] ?? 0;
    if (i === r.length - 1 && !rightAlign.has(i)) return c;
    return rightAlign.has(i) ? c.padStart(w) : c.padEnd(w);
  }).join(' ')).join('\n') + '\n';
}

/** `key=value` arguments (dd); a bare word maps to ''. */
export function keyValues(args: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 0) m.set(a, '');
    else m.set(a.slice(0, eq), a.slice(eq + 1));
  }
  return m;
}

/** `--key=value` / `--flag` options and positional words. */
export function longOptions(args: readonly string[]): { opts: Map<string, string>; positional: string[] } {
  const opts = new Map<string, string>();
  const positional: string[] = [];
  for (const a of args) {
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq < 0) opts.set(a.slice(2), '');
      else opts.set(a.slice(2, eq), a.slice(eq + 1));
    } else {
      positional.push(a);
    }
  }
  return { opts, positional };
}

export const hex = (v: number, width = 0): string => `0x${v.toString(16).padStart(width, '0')}`;

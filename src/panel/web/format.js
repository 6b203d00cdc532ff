// Number formatting for the panel: few digits, thousands as "k", units spelled out where they are shown.

/** 1234 → "1.23k", 12345 → "12.3k", 0.5 → "0.5" */
export function compact(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${(v / 1e3).toPrecision(3)}k`;
  if (a >= 100 || v === 0) return String(Math.round(v));
  const t = v.toPrecision(2);
  return t.includes('.') && !t.includes('e') ? t.replace(/\.?0+$/, '') : String(Number(t));
}

/** Axis ticks are round numbers: 10000 → "10k", 2500 → "2.5k", 0.25 → "0.25" */
export function tick(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(2)}k`;
  return String(+v.toFixed(2));
}

/** Cores with two decimals: 0.054 → "0.05" */
export function cores(v) {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2);
}

export function pct(v) {
  if (!Number.isFinite(v)) return '–';
  // 99.8% must not round up to a claim of 100%.
  const near100 = v > 99 && v < 100;
  return `${(v >= 10 || v <= -10) && !near100 ? Math.round(v) : v.toFixed(1)}%`;
}

export function micros(ns) {
  const us = ns / 1000;
  return us >= 100 ? `${Math.round(us)} µs` : `${us.toFixed(1)} µs`;
}

export function clockTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour12: false });
}

/** Create an element: h('td', { class: 'id', title: 'x' }, 'text', child…) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) el.append(c);
  return el;
}

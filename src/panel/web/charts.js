// uPlot charts with direct labels: every series is named (with its current value) at the right end of the line or
// band it belongs to, so the reader never hunts for a legend. Stacked areas are drawn top-first with opaque fills.
import uPlot from '/panel/vendor/uPlot.esm.js';
import { compact, cores, tick } from './format.js';

export const WINDOW_S = 180;
const GUTTER = 178; // CSS px right of the plot for the labels
const X_TICKS = [-180, -120, -60, 0];
const X_LABEL = (d) => (d === 0 ? 'now' : `${d / 60} min`);

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** Draw `items` ({ y, text, color }) beside the plot, nudged apart so none overlap. */
function drawLabels(u, items) {
  const px = uPlot.pxRatio;
  const ctx = u.ctx;
  const gap = 14 * px;
  const top = u.bbox.top;
  const bottom = u.bbox.top + u.bbox.height;
  const pos = items
    .filter((i) => i.y !== null && i.y !== undefined && Number.isFinite(i.y))
    .map((i) => ({ ...i, py: Math.min(bottom, Math.max(top, u.valToPos(i.y, 'y', true))) }))
    .sort((a, b) => a.py - b.py);
  for (let k = 1; k < pos.length; k++) if (pos[k].py - pos[k - 1].py < gap) pos[k].py = pos[k - 1].py + gap;
  for (let k = pos.length - 1; k >= 0; k--) {
    const limit = k === pos.length - 1 ? bottom : pos[k + 1].py - gap;
    if (pos[k].py > limit) pos[k].py = limit;
  }
  ctx.save();
  ctx.font = `600 ${12 * px}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  const x = u.bbox.left + u.bbox.width + 8 * px;
  for (const p of pos) {
    ctx.fillStyle = p.color;
    ctx.fillRect(x, p.py - 4 * px, 8 * px, 8 * px);
    ctx.fillText(p.text, x + 12 * px, p.py);
  }
  ctx.restore();
}

function lastIndex(arr) {
  for (let i = arr.length - 1; i >= 0; i--) if (arr[i] !== null && arr[i] !== undefined) return i;
  return -1;
}

/** Base class: a uPlot in `el` that follows the element's width, with the x range pinned to the last WINDOW_S. */
class Chart {
  constructor(el, height, series, yRange, axisFmt) {
    this.el = el;
    this.now = Date.now() / 1000;
    const opts = {
      width: Math.max(200, el.clientWidth), height,
      padding: [8, GUTTER, 0, 0],
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: () => [this.now - WINDOW_S, this.now] },
        y: { range: yRange },
      },
      axes: [
        {
          stroke: css('--muted'), grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e7' }, size: 24,
          splits: () => X_TICKS.map((d) => this.now + d),
          values: (_u, vals) => vals.map((v) => X_LABEL(Math.round(v - this.now))),
        },
        { stroke: css('--muted'), grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e7' }, size: 50, values: (_u, vals) => vals.map(axisFmt) },
      ],
      series: [{}, ...series],
      hooks: { draw: [(u) => this.drawLabels(u)] },
    };
    this.u = new uPlot(opts, [[], ...series.map(() => [])], el);
    new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== this.u.width) this.u.setSize({ width: w, height });
    }).observe(el);
  }
  drawLabels() {}
}

/** Lines: `defs` = [{ label, color, pick(point) → number }]. */
export class LineChart extends Chart {
  constructor(el, defs, { height = 120, unit = compact } = {}) {
    super(el, height, defs.map((d) => ({ label: d.label, stroke: d.color, width: 2, points: { show: false } })),
      (_u, _min, max) => [0, Math.max(1, max) * 1.1], tick);
    this.defs = defs;
    this.unit = unit;
  }
  /** points: [{ t (s), m: HostMetrics }] */
  update(points, now) {
    this.now = now;
    this.data = [points.map((p) => p.t), ...this.defs.map((d) => points.map((p) => d.pick(p.m)))];
    this.u.setData(this.data);
  }
  drawLabels(u) {
    if (!this.data) return;
    const i = lastIndex(this.data[0]);
    if (i < 0) return;
    drawLabels(u, this.defs.map((d, k) => {
      const v = this.data[k + 1][i];
      return { y: v, text: `${d.label} ${this.unit(v)}`, color: d.color };
    }));
  }
}

/** Stacked areas in cores: `cats` bottom to top, [{ label, color, pick(point) → cores }]; `shared` = { max } to share a scale. */
export class StackedChart extends Chart {
  constructor(el, cats, shared, { height = 170 } = {}) {
    const series = [...cats].reverse().map((c) => ({ label: c.label, stroke: c.color, fill: c.color, width: 1, points: { show: false } }));
    super(el, height, series, () => [0, Math.max(0.5, shared.max) * 1.1], (v) => v.toFixed(v < 1 ? 2 : 1));
    this.cats = cats;
    this.shared = shared;
  }
  update(points, now) {
    this.now = now;
    const values = this.cats.map((c) => points.map((p) => Math.max(0, c.pick(p.m) ?? 0)));
    const cum = [];
    values.forEach((vals, k) => cum.push(vals.map((v, i) => v + (k > 0 ? cum[k - 1][i] : 0))));
    this.values = values;
    this.cum = cum;
    this.data = [points.map((p) => p.t), ...[...cum].reverse()];
    this.u.setData(this.data);
  }
  drawLabels(u) {
    if (!this.data) return;
    const i = lastIndex(this.data[0]);
    if (i < 0) return;
    drawLabels(u, this.cats.map((c, k) => {
      const lo = k > 0 ? this.cum[k - 1][i] : 0;
      return { y: (lo + this.cum[k][i]) / 2, text: `${c.label} ${cores(this.values[k][i])}`, color: c.color };
    }));
  }
}

/** The highest stack total over `points`, so two stacked charts can share one y scale. */
export function stackMax(cats, points) {
  let max = 0;
  for (const p of points) max = Math.max(max, cats.reduce((a, c) => a + Math.max(0, c.pick(p.m) ?? 0), 0));
  return max;
}

export { css };

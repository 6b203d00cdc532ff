// Transaction timeline: one sampled NVMe I/O drawn as a sequence over four lanes (guest, hypervisor, Nitro card,
// storage backend), once per mode. The same lanes in both modes, so the empty hypervisor lane in offload mode is the
// point: the doorbell goes straight to the card and the MSI-X straight back. A bar below keeps real time to scale.
import { micros, h } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const LANES = [
  { id: 'guest', label: 'guest vCPU', color: 'var(--guest)' },
  { id: 'hypervisor', label: 'hypervisor', color: 'var(--hypervisor)' },
  { id: 'card', label: 'Nitro card', color: 'var(--nvme)' },
  { id: 'backend', label: 'EBS backend', color: 'var(--fabric)' },
];
const LANE_SUB = {
  offload: { guest: 'NVMe driver', hypervisor: 'not on the I/O path', card: 'NVMe controller', backend: 'volume storage' },
  legacy: { guest: 'NVMe driver', hypervisor: 'traps, emulates, injects', card: 'not used for this I/O', backend: 'volume storage' },
};
const NAMES = {
  doorbell: 'doorbell', exit: 'VM exit', 'desc-dma': 'desc DMA', backend: 'backend I/O', 'data-dma': 'data DMA',
  completion: 'CQE write', msix: 'MSI-X', inject: 'IRQ inject',
};
const LONG = {
  doorbell: 'guest writes the SQ tail doorbell', exit: 'the doorbell write traps to the hypervisor',
  'desc-dma': 'device reads the 64-byte command (SQE) from guest memory', backend: 'device reads/writes the volume',
  'data-dma': 'device moves the data to/from guest memory (PRPs)', completion: 'device writes the 16-byte CQE',
  msix: 'device signals the MSI-X vector', inject: 'hypervisor injects the interrupt into the vCPU',
};

function laneOf(kind, mode) {
  if (kind === 'doorbell') return 'guest';
  if (kind === 'exit' || kind === 'inject') return 'hypervisor';
  if (kind === 'backend') return 'backend';
  return mode === 'legacy' ? 'hypervisor' : 'card';
}

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function diagram(sample, width) {
  const { mode, steps } = sample.transaction;
  const t0 = steps[0].tNs;
  const total = steps[steps.length - 1].tNs - t0;
  const laneH = 38;
  const left = 170;
  const right = 16;
  const barTop = LANES.length * laneH + 12;
  const height = barTop + 30;
  const col = (width - left - right) / steps.length;
  const x = (i) => left + col * (i + 0.5);
  const y = (lane) => LANES.findIndex((l) => l.id === lane) * laneH + laneH / 2 + 4;
  const s = svg('svg', { viewBox: `0 0 ${width} ${height}`, height, role: 'img', 'aria-label': `${mode} I/O timeline` });
  const defs = svg('defs');
  const marker = svg('marker', { id: `arrow-${mode}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7a8291' }));
  defs.append(marker);
  s.append(defs);

  const used = new Set(steps.map((st) => laneOf(st.kind, mode)));
  LANES.forEach((l, k) => {
    const cy = y(l.id);
    if (k % 2 === 0) s.append(svg('rect', { x: 0, y: cy - laneH / 2 - 4, width, height: laneH, fill: '#f7f8fa' }));
    s.append(svg('line', { x1: left - 6, x2: width - right, y1: cy, y2: cy, stroke: used.has(l.id) ? '#d5d9e0' : '#eceef1', 'stroke-dasharray': used.has(l.id) ? '' : '4 4' }));
    s.append(svg('text', { x: 8, y: cy - 3, class: 'lane-label', fill: l.color, style: `fill:${l.color}` }, l.label));
    s.append(svg('text', { x: 8, y: cy + 11, class: 'lane-sub' }, LANE_SUB[mode][l.id]));
  });
  if (!used.has('hypervisor')) {
    s.append(svg('text', { x: left + 4, y: y('hypervisor') - 5, class: 'absent' }, 'no exits, no injected interrupts: the hypervisor does nothing for this I/O'));
  }

  for (let i = 1; i < steps.length; i++) {
    const a = { x: x(i - 1), y: y(laneOf(steps[i - 1].kind, mode)) };
    const b = { x: x(i), y: y(laneOf(steps[i].kind, mode)) };
    const dx = b.x - a.x; const dy = b.y - a.y; const len = Math.hypot(dx, dy) || 1;
    s.append(svg('line', { x1: a.x + (dx / len) * 8, y1: a.y + (dy / len) * 8, x2: b.x - (dx / len) * 9, y2: b.y - (dy / len) * 9,
      stroke: '#7a8291', 'stroke-width': 1.3, 'marker-end': `url(#arrow-${mode})` }));
  }
  steps.forEach((st, i) => {
    const lane = LANES.find((l) => l.id === laneOf(st.kind, mode));
    const cx = x(i); const cy = y(lane.id);
    const g = svg('g', { class: 'step', 'data-kind': st.kind, 'data-lane': lane.id });
    g.append(svg('title', {}, `${NAMES[st.kind]} — ${LONG[st.kind]}\nt = +${micros(st.tNs - t0)}${st.detail ? `\n${st.detail}` : ''}`));
    g.append(svg('circle', { cx, cy, r: 6, fill: lane.color, style: `fill:${lane.color}`, stroke: '#fff', 'stroke-width': 1.5 }));
    g.append(svg('text', { x: cx, y: cy - 10, 'text-anchor': 'middle', class: 'step-name' }, NAMES[st.kind]));
    g.append(svg('text', { x: cx, y: cy + 19, 'text-anchor': 'middle', class: 'step-time' }, `+${micros(st.tNs - t0)}`));
    s.append(g);
  });

  // Real time to scale: where along the I/O's lifetime each step happened.
  const bx0 = left; const bx1 = width - right;
  const tx = (t) => bx0 + (total > 0 ? ((t - t0) / total) * (bx1 - bx0) : 0);
  s.append(svg('text', { x: 8, y: barTop + 12, class: 'lane-sub' }, 'to scale: who holds it'));
  s.append(svg('rect', { x: bx0, y: barTop + 4, width: bx1 - bx0, height: 10, fill: '#eef0f3', rx: 2 }));
  // Each interval is coloured by the lane of the step that starts it: who holds the I/O until the next step.
  for (let i = 1; i < steps.length; i++) {
    const lane = LANES.find((l) => l.id === laneOf(steps[i - 1].kind, mode));
    const xa = tx(steps[i - 1].tNs); const xb = tx(steps[i].tNs);
    s.append(svg('rect', { x: xa, y: barTop + 4, width: Math.max(1, xb - xa), height: 10, fill: lane.color, style: `fill:${lane.color}`, opacity: 0.75 }));
  }
  s.append(svg('text', { x: bx0, y: barTop + 27, class: 'step-time' }, '0'));
  s.append(svg('text', { x: bx1, y: barTop + 27, 'text-anchor': 'end', class: 'step-time' }, micros(total)));
  return s;
}

function title(sample) {
  const { mode, steps } = sample.transaction;
  const hv = steps.filter((st) => laneOf(st.kind, mode) === 'hypervisor').length;
  const total = steps[steps.length - 1].tNs - steps[0].tNs;
  return h('div', { class: 'tl-title' },
    h('span', { class: `tag ${mode}` }, mode), ' ',
    `${sample.hostId} · ${micros(total)} from ${NAMES[steps[0].kind]} to ${NAMES[steps[steps.length - 1].kind]} · `,
    h('b', {}, hv === 0 ? 'hypervisor steps: 0' : `hypervisor steps: ${hv}`));
}

function missing(mode) {
  const how = mode === 'legacy'
    ? 'no legacy-mode host is running. Start one (nitrolab up --mode legacy) to see the path through the hypervisor: exit, emulate, inject.'
    : 'no offload-mode host has sampled an I/O yet. Launch an fio preset on an offload host.';
  return h('div', { class: 'tl tl-missing', 'data-mode': mode }, h('span', { class: `tag ${mode}` }, mode), ` no sampled I/O — ${how}`);
}

export class Timeline {
  constructor(el, holdBox) {
    this.el = el;
    this.hold = holdBox;
    this.key = '';
    this.data = null;
    new ResizeObserver(() => { if (this.data) this.draw(this.data); }).observe(el);
  }

  /** data: TimelineData from the server (src/panel/server/wire.ts) */
  update(data) {
    if (this.hold.checked && this.data) return;
    const key = JSON.stringify(data);
    if (key === this.key) return;
    this.key = key;
    this.data = data;
    this.draw(data);
  }

  draw(data) {
    const width = Math.max(480, this.el.clientWidth);
    this.el.replaceChildren();
    if (!data.offload && !data.legacy) {
      const why = data.status.state === 'ok' ? 'no I/O has been sampled yet — launch an fio preset' : `no data yet (${data.status.reason})`;
      this.el.append(h('p', { class: 'nodata-inline' }, `No sampled I/O: ${why}.`));
      return;
    }
    for (const mode of ['offload', 'legacy']) {
      const sample = data[mode];
      if (!sample) { this.el.append(missing(mode)); continue; }
      const box = h('div', { class: 'tl', 'data-mode': mode });
      box.append(title(sample), diagram(sample, width));
      this.el.append(box);
    }
  }
}

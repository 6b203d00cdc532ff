// The panel page: one websocket (/v1/stream) brings snapshots once a second; nothing here polls. The page keeps the
// last few minutes per host for the charts and tells the server which host and instance it is looking at.
import { css, LineChart, StackedChart, stackMax, WINDOW_S } from './charts.js';
import { ConsoleView } from './console.js';
import { h } from './format.js';
import { renderNumbers, renderReclaim } from './headline.js';
import { Instances } from './instances.js';
import { Timeline } from './timeline.js';

const $ = (id) => document.getElementById(id);

const HOST_CATS = [
  { label: 'guest', color: css('--guest'), pick: (m) => m.cpu.host.guest },
  { label: 'hypervisor', color: css('--hypervisor'), pick: (m) => m.cpu.host.hypervisor },
  { label: 'device emulation', color: css('--devemu'), pick: (m) => m.cpu.host.deviceEmulation },
  { label: 'fabric', color: css('--fabric'), pick: (m) => m.cpu.host.fabric },
];
const CARD_CATS = [
  { label: 'nvme', color: css('--nvme'), pick: (m) => m.cpu.card.nvme },
  { label: 'net', color: css('--net'), pick: (m) => m.cpu.card.net },
  { label: 'mgmt', color: css('--mgmt'), pick: (m) => m.cpu.card.mgmt },
  { label: 'fabric', color: css('--fabric'), pick: (m) => m.cpu.card.fabric },
];

const state = {
  hostId: null,
  instanceId: null,
  /** hostId → [{ t (s), m: HostMetrics }] */
  points: new Map(),
  now: Date.now() / 1000,
  metricsStatus: { state: 'missing', reason: 'waiting for the first snapshot' },
  hostsKey: '',
};

const shared = { max: 0 };
const charts = {
  cpuHost: new StackedChart($('cpu-host'), HOST_CATS, shared),
  cpuCard: new StackedChart($('cpu-card'), CARD_CATS, shared),
  iops: new LineChart($('iops'), [{ label: 'IOPS', color: css('--nvme'), pick: (m) => m.io.iops }]),
  mbps: new LineChart($('mbps'), [
    { label: 'read', color: css('--nvme'), pick: (m) => m.io.readMBps },
    { label: 'write', color: css('--devemu'), pick: (m) => m.io.writeMBps },
  ]),
  pps: new LineChart($('pps'), [{ label: 'packets/s', color: css('--net'), pick: (m) => m.io.pps }]),
  events: new LineChart($('events'), [
    { label: 'exits/s', color: css('--hypervisor'), pick: (m) => m.exitsPerSec },
    { label: 'interrupts/s', color: css('--nvme'), pick: (m) => m.interruptsPerSec },
  ]),
};
const chartBoxes = ['cpu-host-box', 'cpu-card-box', 'iops-box', 'mbps-box', 'pps-box', 'events-box'].map($);

const timeline = new Timeline($('timeline'), $('timeline-hold'));
const consoleView = new ConsoleView($('console'), $('console-of'));
const instances = new Instances({
  table: $('instances'), count: $('instance-count'), preset: $('preset'), what: $('preset-what'), button: $('launch'), result: $('launch-result'),
}, (id) => { state.instanceId = id; consoleView.show(id, instances.stateOf(id)); sendSelect(); });

let ws = null;
function sendSelect() {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'select', hostId: state.hostId, instanceId: state.instanceId }));
}

function addPoint(at, hosts) {
  const t = at / 1000;
  for (const m of hosts) {
    const list = state.points.get(m.hostId) ?? [];
    if (list.length && list[list.length - 1].t >= t) continue;
    list.push({ t, m });
    while (list.length && list[0].t < t - WINDOW_S - 5) list.shift();
    state.points.set(m.hostId, list);
  }
  state.now = Math.max(state.now, t);
}

function drawCharts() {
  const pts = state.points.get(state.hostId) ?? [];
  const ok = state.metricsStatus.state === 'ok' && pts.length > 0;
  const why = state.metricsStatus.state !== 'ok'
    ? `no data yet — ${state.metricsStatus.reason}`
    : `no data yet for ${state.hostId ?? 'this host'}`;
  for (const box of chartBoxes) {
    box.dataset.nodata = String(!ok);
    box.querySelector('.nodata').textContent = why;
  }
  shared.max = Math.max(stackMax(HOST_CATS, pts), stackMax(CARD_CATS, pts));
  for (const c of Object.values(charts)) c.update(pts, state.now);
  renderNumbers($('numbers'), pts[pts.length - 1]?.m);
}

function hostList(snapshot) {
  const ids = new Map();
  if (snapshot.hosts.state === 'ok') for (const hst of snapshot.hosts.data) ids.set(hst.hostId, hst);
  if (snapshot.metrics.state === 'ok') for (const m of snapshot.metrics.data.hosts) if (!ids.has(m.hostId)) ids.set(m.hostId, { hostId: m.hostId, reachable: true, metrics: m });
  return [...ids.values()];
}

function updateHosts(list) {
  const sel = $('host-select');
  const label = (x) => `${x.hostId}${x.card ? ` — ${x.card.mode}, ${x.card.link} link` : x.reachable ? '' : ' (unreachable)'}`;
  const key = list.map(label).join('|');
  if (key !== state.hostsKey) {
    state.hostsKey = key;
    sel.replaceChildren(...(list.length ? list.map((x) => h('option', { value: x.hostId }, label(x))) : [h('option', { value: '' }, 'no hosts yet')]));
  }
  if ((state.hostId === null || !list.some((x) => x.hostId === state.hostId)) && list[0]) {
    state.hostId = list[0].hostId;
    sendSelect();
  }
  sel.value = state.hostId ?? '';
  const cur = list.find((x) => x.hostId === state.hostId);
  $('host-facts').textContent = cur?.card
    ? `${cur.card.usage.instances} instances · ${cur.card.usage.vcpus} of ${cur.card.capacity.vcpus} vCPUs in use${bootFact(cur.card.boot)}`
    : cur && !cur.reachable ? `card not answering${cur.error ? `: ${cur.error}` : ''}` : '';
  $('host-facts').dataset.cardBoots = String(cur?.card?.boot?.count ?? '');
}

/** A card restart (nitrolab up restarts a dead card): its boot count is above 1, with the time and what it restored. */
function bootFact(boot) {
  if (!boot) return '';
  const at = new Date(boot.at).toLocaleTimeString();
  if (boot.count <= 1) return ` · card up since ${at}`;
  const restored = boot.restoredInstances > 0 ? `, ${boot.restoredInstances} instance record(s) restored` : '';
  return ` · card restarted at ${at} (boot ${boot.count}${restored})`;
}

function onSnapshot(s) {
  state.metricsStatus = s.metrics;
  if (s.metrics.state === 'ok') addPoint(s.at, s.metrics.data.hosts);
  state.now = Math.max(state.now, s.at / 1000);
  updateHosts(hostList(s));
  drawCharts();
  renderReclaim($('reclaim'), s.reclaim);
  if (s.instances.state === 'ok') instances.update(s.instances.data);
  timeline.update(s.timeline);
  consoleView.apply(s.console, instances.stateOf(state.instanceId));
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots ?? 0) + 1);
}

function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch { return; }
  if (msg.type === 'hello') {
    state.points.clear();
    for (const p of msg.history) addPoint(p.at, p.hosts);
  } else if (msg.type === 'snapshot') {
    onSnapshot(msg);
  } else if (msg.type === 'instances') {
    instances.update(msg.instances);
    if (state.instanceId) consoleView.show(state.instanceId, instances.stateOf(state.instanceId));
  }
}

let backoff = 500;
function connect() {
  const conn = $('conn');
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`);
  ws.addEventListener('open', () => {
    backoff = 500;
    conn.dataset.state = 'live';
    conn.textContent = 'live';
    sendSelect();
  });
  ws.addEventListener('message', onMessage);
  ws.addEventListener('close', () => {
    conn.dataset.state = 'reconnecting';
    conn.textContent = 'reconnecting…';
    setTimeout(connect, backoff);
    backoff = Math.min(10_000, backoff * 2);
  });
}

$('host-select').addEventListener('change', (ev) => {
  state.hostId = ev.target.value || null;
  sendSelect();
  drawCharts();
});
$('timeline-hold').addEventListener('change', () => { if (!$('timeline-hold').checked) timeline.key = ''; });

drawCharts();
connect();

// The headline: cores reclaimed (host cores spent on I/O virtualization in legacy minus offload), or — when only one
// mode runs — what is measured and, in words, what is not. Beside it, the selected host's numbers right now.
import { compact, cores, h, pct } from './format.js';

const tag = (mode) => h('span', { class: `tag ${mode}` }, mode);

function modeLine(mode, c) {
  return [
    h('span', {}, tag(mode)),
    h('span', {}, h('b', {}, `${cores(c.ioVirtCores)} host cores`), ` on I/O virtualization (hypervisor ${cores(c.hypervisorCores)} + device emulation ${cores(c.deviceEmulationCores)})`,
      ` · ${compact(c.exitsPerSec)} exits/s · ${compact(c.iops)} IOPS · card ${cores(c.cardCores)} cores · ${c.hosts.join(', ')}`),
  ];
}

/** r: Reclaim (src/panel/server/wire.ts) */
export function renderReclaim(el, r) {
  el.dataset.kind = r.kind;
  const parts = [];
  if (r.kind === 'none') {
    parts.push(h('div', { class: 'big' }, 'Reclaimed cores: no data yet'),
      h('div', { class: 'sub muted' }, 'Waiting for GET /v1/metrics (CPU attribution per host).'));
  } else if (r.kind === 'both') {
    parts.push(
      h('div', { class: 'big' }, `${cores(r.reclaimedCores)} `, h('span', { class: 'unit' }, 'host cores reclaimed per host')),
      h('div', { class: 'sub' }, h('b', {}, `${pct(r.reclaimedPercentOfMachine)} of this machine's ${r.machineCpus} CPUs`),
        h('span', { class: 'muted' }, ` · offload removes ${pct(r.reclaimedPercentOfLegacy)} of the host CPU that legacy mode spends on I/O virtualization; the card does that work.`)),
      h('div', { class: 'modes' }, ...modeLine('legacy', r.legacy), ...modeLine('offload', r.offload)));
    if (!r.comparableLoad) {
      parts.push(h('div', { class: 'note' }, `The two modes run different I/O rates (${compact(r.legacy.iops)} vs ${compact(r.offload.iops)} IOPS): the difference is not only the card's doing. nitrolab compare runs the same workload in both.`));
    }
    if (r.legacy.iops === 0 && r.offload.iops === 0) {
      parts.push(h('div', { class: 'note' }, 'No I/O is running: launch an fio preset to see the cost of I/O virtualization.'));
    }
  } else {
    const mode = r.kind === 'offload-only' ? 'offload' : 'legacy';
    const other = mode === 'offload' ? 'legacy' : 'offload';
    const c = r[mode];
    parts.push(
      h('div', { class: 'big' }, `${cores(c.ioVirtCores)} `, h('span', { class: 'unit' }, `host cores on I/O virtualization (${mode})`)),
      h('div', { class: 'sub' }, h('b', {}, 'Reclaimed cores: not measured'),
        h('span', { class: 'muted' }, ` — only ${mode} mode is running, ${other} mode is not. Start a ${other}-mode host (nitrolab up --mode ${other}) or run nitrolab compare.`)),
      h('div', { class: 'modes' }, ...modeLine(mode, c)));
    if (mode === 'legacy') parts.push(h('div', { class: 'sub muted small' }, 'This is what offload would give back, less what is left on the host with the card doing the I/O.'));
  }
  el.replaceChildren(...parts);
}

/** m: HostMetrics of the selected host, or undefined */
export function renderNumbers(el, m) {
  if (!m) { el.replaceChildren(h('div', { class: 'muted' }, 'no metrics for this host yet')); return; }
  const cell = (v, k, color) => h('div', { class: 'n', style: color ? `border-color:${color}` : undefined }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k));
  el.replaceChildren(
    cell(compact(m.io.iops), 'I/O operations/s', 'var(--nvme)'),
    cell(`${compact(m.io.readMBps)} / ${compact(m.io.writeMBps)}`, 'MB/s read / write', 'var(--nvme)'),
    cell(compact(m.io.pps), `packets/s · ${compact(m.io.gbps)} Gbps`, 'var(--net)'),
    cell(compact(m.exitsPerSec), 'VM exits/s', 'var(--hypervisor)'),
    cell(compact(m.interruptsPerSec), 'interrupts/s', 'var(--hypervisor)'),
    cell(`${compact(m.latencyUs.p50)} / ${compact(m.latencyUs.p99)}`, 'latency µs p50 / p99'),
    cell(compact(m.queueDepth), 'queue depth'),
    cell(String(m.instances), `instances · ${m.mode} · ${m.link}`),
  );
}

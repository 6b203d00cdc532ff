// `nitrolab compare`: the same workload first in legacy mode, then in offload mode — same instances, same duration —
// and the table of what offload gives back: host cores spent on I/O virtualization in each mode, cores reclaimed (and
// as % of the host), the guest CPU benchmark's throughput in each mode and their ratio, and I/O throughput. Figures
// come from the cards' GET /v1/metrics cumulative CPU counters (kernel accounting, src/telemetry) over a window
// inside the run. The host and card processes are pinned to separate cores with taskset where that is possible.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intFlag, oneOf, parse } from './args.ts';
import { stopChild } from '../common/stop-child.ts';

const BIN = fileURLToPath(new URL('../../bin/nitrolab.js', import.meta.url));

export interface CompareOptions {
  seconds: number;
  ioInstances: number;
  iodepth: number;
  /** fio rate_iops per I/O instance, so both modes do the same work (0 = as fast as each mode goes). */
  rateIops: number;
  rw: string;
  cpuBench: boolean;
  link: 'socket' | 'shm';
  pin: boolean;
}

export interface ModeResult {
  mode: 'offload' | 'legacy';
  windowSec: number;
  /** Average cores over the window, by category (host and card process). */
  host: { guest: number; hypervisor: number; deviceEmulation: number; fabric: number };
  card: { nvme: number; net: number; mgmt: number; fabric: number };
  /** Host cores a real machine would spend on I/O virtualization: hypervisor + device emulation. */
  ioVirtCores: number;
  /** …plus the cost of emulating the PCIe wires, which real hardware does not charge to the host. */
  ioVirtCoresInclFabric: number;
  /** Host I/O-virtualization CPU per I/O, microseconds (ioVirtCores / iops): comparable when the modes' IOPS differ. */
  hostUsPerIo: number | null;
  iops: number;
  writeMBps: number;
  readMBps: number;
  exitsPerSec: number;
  interruptsPerSec: number;
  /** Guest-reported: fio IOPS summed over the I/O instances, cpu-bench ops/s. */
  fioIops: number;
  cpuBenchOpsPerSec: number | null;
  pinning: Pinning;
}

export interface Pinning { pinned: boolean; host?: string; card?: string; reason?: string }

export interface CompareReport {
  at: string;
  options: CompareOptions;
  machineCpus: number;
  /** Cores the host process may run on (its taskset), the denominator of reclaimedPercent. */
  hostCores: number;
  legacy: ModeResult;
  offload: ModeResult;
  reclaimedCores: number;
  reclaimedPercent: number;
  reclaimedCoresInclFabric: number;
  /** Host CPU per I/O saved by offload, microseconds (null when a mode did no I/O). */
  reclaimedUsPerIo: number | null;
  cpuBenchRatio: number | null;
  ioRatio: number;
}

export function parseCompareArgs(argv: string[]): CompareOptions & { json: string | undefined; markdown: string | undefined } {
  const { values } = parse(argv, {
    quick: { type: 'boolean' },
    seconds: { type: 'string' },
    'io-instances': { type: 'string' },
    iodepth: { type: 'string' },
    'rate-iops': { type: 'string' },
    rw: { type: 'string' },
    'no-cpu-bench': { type: 'boolean' },
    link: { type: 'string' },
    'no-pin': { type: 'boolean' },
    json: { type: 'string' },
    markdown: { type: 'string' },
  });
  return {
    seconds: intFlag('seconds', values.seconds, values.quick ? 8 : 20, 4, 3600),
    ioInstances: intFlag('io-instances', values['io-instances'], 1, 1, 16),
    iodepth: intFlag('iodepth', values.iodepth, 16, 1, 1024),
    rateIops: intFlag('rate-iops', values['rate-iops'], 0, 0, 1_000_000),
    rw: oneOf('rw', values.rw, ['randwrite', 'randread', 'randrw', 'write', 'read'] as const, 'randwrite'),
    cpuBench: values['no-cpu-bench'] !== true,
    link: oneOf('link', values.link, ['socket', 'shm'] as const, 'socket'),
    pin: values['no-pin'] !== true,
    json: values.json,
    markdown: values.markdown,
  };
}

interface Up { proc: ChildProcess; url: string; key: string | undefined; dataDir: string }

async function startUp(mode: 'offload' | 'legacy', o: CompareOptions): Promise<Up> {
  const dataDir = mkdtempSync(join(tmpdir(), `nl-compare-${mode}-`));
  const proc = spawn(process.execPath, [BIN, 'up', '--port', '0', '--data-dir', dataDir, '--mode', mode, '--link', o.link, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`nitrolab up (${mode}) not ready after 60 s: ${err}`)), 60_000);
    proc.on('message', (m: { type?: string; url?: string }) => { if (m.type === 'ready' && m.url) { clearTimeout(t); resolve(m.url); } });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`nitrolab up (${mode}) exited ${code}: ${err}`)); });
  });
  const keysFile = join(dataDir, 'api-keys.json');
  const key = existsSync(keysFile) ? (JSON.parse(readFileSync(keysFile, 'utf8')) as { admin?: string }).admin : undefined;
  return { proc, url, key, dataDir };
}

async function stopUp(up: Up): Promise<void> {
  await stopChild(up.proc, 10_000);
  rmSync(up.dataDir, { recursive: true, force: true });
}

async function call<T>(up: Up, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(up.url + path, {
    method,
    headers: { ...(up.key ? { authorization: `Bearer ${up.key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  try { return JSON.parse(text) as T; } catch { return text as T; }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pin the host process to the first core and the card process to the others (util-linux taskset). */
function pin(up: Up, enabled: boolean, link: 'socket' | 'shm'): Pinning {
  if (!enabled) return { pinned: false, reason: '--no-pin' };
  const cpus = availableParallelism();
  if (cpus < 2) return { pinned: false, reason: `${cpus} CPU: nothing to separate` };
  if (link === 'shm') return { pinned: false, reason: 'link shm: the card is a thread of the host process' };
  if (spawnSync('taskset', ['-V']).status !== 0) return { pinned: false, reason: 'taskset not found' };
  const kids = spawnSync('pgrep', ['-P', String(up.proc.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const role = (pid: number) => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; }
  };
  const host = kids.find((p) => role(p).includes('host'));
  const card = kids.find((p) => role(p).includes('card'));
  if (host === undefined || card === undefined) return { pinned: false, reason: 'could not find the host and card processes' };
  const hostSet = '0';
  const cardSet = cpus === 2 ? '1' : `1-${cpus - 1}`;
  const a = spawnSync('taskset', ['-a', '-p', '-c', hostSet, String(host)], { encoding: 'utf8' });
  const b = spawnSync('taskset', ['-a', '-p', '-c', cardSet, String(card)], { encoding: 'utf8' });
  if (a.status !== 0 || b.status !== 0) return { pinned: false, reason: `taskset failed: ${a.stderr}${b.stderr}`.trim() };
  return { pinned: true, host: `pid ${host} on CPU ${hostSet}`, card: `pid ${card} on CPU ${cardSet}` };
}

interface Cumulative {
  atMs: number;
  cpuSec: { host: ModeResult['host']; card: ModeResult['card'] };
  ios: number; readBytes: number; writeBytes: number; exits: number; interrupts: number;
}
interface MetricsReply { hosts: Array<{ hostId: string; cumulative: Cumulative }> }

async function reading(up: Up): Promise<Cumulative> {
  // The card samples once a second; wait for a fresh sample so the window's edges are sharp to ~1 s.
  await sleep(1100);
  const m = await call<MetricsReply>(up, 'GET', '/v1/metrics');
  const h = m.hosts[0];
  if (!h) throw new Error('GET /v1/metrics returned no host');
  return h.cumulative;
}

async function consoleOf(up: Up, id: string): Promise<string> {
  return call<string>(up, 'GET', `/v1/instances/${id}/console`);
}

async function runMode(mode: 'offload' | 'legacy', o: CompareOptions, log: (s: string) => void): Promise<ModeResult> {
  log(`${mode}: starting nitrolab up (link ${o.link})`);
  const up = await startUp(mode, o);
  try {
    const pinning = pin(up, o.pin, o.link);
    log(`${mode}: ${pinning.pinned ? `pinned host ${pinning.host}, card ${pinning.card}` : `not pinned (${pinning.reason})`}`);
    const runFor = o.seconds + 6;
    const fioLine = `fio --name=cmp --filename=/dev/nvme0n1 --rw=${o.rw} --bs=4k --iodepth=${o.iodepth} --size=16m --runtime=${runFor}s --time_based${o.rateIops > 0 ? ` --rate_iops=${o.rateIops}` : ''}`;
    const ids: { io: string[]; cpu: string | undefined } = { io: [], cpu: undefined };
    const launch = async (userData: string, volumes: unknown[]) => {
      const r = await call<{ instances: Array<{ instanceId: string }> }>(up, 'POST', '/v1/instances', { instanceType: 'm5.large', volumes, userData });
      const id = r.instances[0]?.instanceId;
      if (!id) throw new Error('launch returned no instance');
      return id;
    };
    for (let i = 0; i < o.ioInstances; i++) ids.io.push(await launch(`sleep 2\n${fioLine}`, [{ sizeGiB: 1 }]));
    if (o.cpuBench) ids.cpu = await launch(`sleep 2\ncpu-bench --seconds=${runFor}`, []);
    // Everything starts 2 s after boot (the sleep): wait for the I/O to be under way, then measure a window inside it.
    for (const id of [...ids.io, ...(ids.cpu ? [ids.cpu] : [])]) {
      for (let t = 0; ; t++) {
        const s = await call<{ state: { name: string } }>(up, 'GET', `/v1/instances/${id}`);
        if (s.state.name === 'running') break;
        if (t > 120) throw new Error(`${id} is not running: ${s.state.name}`);
        await sleep(250);
      }
    }
    await sleep(3000);
    const a = await reading(up);
    await sleep(Math.max(1000, (o.seconds - 2) * 1000));
    const b = await reading(up);
    const dt = (b.atMs - a.atMs) / 1000;
    const avg = (x: number, y: number) => (dt > 0 ? (y - x) / dt : 0);
    const host = {
      guest: avg(a.cpuSec.host.guest, b.cpuSec.host.guest), hypervisor: avg(a.cpuSec.host.hypervisor, b.cpuSec.host.hypervisor),
      deviceEmulation: avg(a.cpuSec.host.deviceEmulation, b.cpuSec.host.deviceEmulation), fabric: avg(a.cpuSec.host.fabric, b.cpuSec.host.fabric),
    };
    const card = {
      nvme: avg(a.cpuSec.card.nvme, b.cpuSec.card.nvme), net: avg(a.cpuSec.card.net, b.cpuSec.card.net),
      mgmt: avg(a.cpuSec.card.mgmt, b.cpuSec.card.mgmt), fabric: avg(a.cpuSec.card.fabric, b.cpuSec.card.fabric),
    };
    log(`${mode}: window ${dt.toFixed(1)} s measured; waiting for the guests' reports`);
    const fioRe = /fio: \S+ iops=(\d+)/;
    const cpuRe = /cpu-bench: .*ops_per_sec=(\d+)/;
    let fioIops = 0;
    for (const id of ids.io) {
      for (let t = 0; ; t++) {
        const m = fioRe.exec(await consoleOf(up, id));
        if (m) { fioIops += Number(m[1]); break; }
        if (t > 240) throw new Error(`no fio report from ${id}`);
        await sleep(500);
      }
    }
    let cpuBenchOpsPerSec: number | null = null;
    if (ids.cpu) {
      for (let t = 0; ; t++) {
        const m = cpuRe.exec(await consoleOf(up, ids.cpu));
        if (m) { cpuBenchOpsPerSec = Number(m[1]); break; }
        if (t > 240) throw new Error(`no cpu-bench report from ${ids.cpu}`);
        await sleep(500);
      }
    }
    const iops = avg(a.ios, b.ios);
    return {
      mode, windowSec: dt, host, card,
      hostUsPerIo: iops > 0 ? ((host.hypervisor + host.deviceEmulation) * 1e6) / iops : null,
      ioVirtCores: host.hypervisor + host.deviceEmulation,
      ioVirtCoresInclFabric: host.hypervisor + host.deviceEmulation + host.fabric,
      iops, writeMBps: avg(a.writeBytes, b.writeBytes) / 1e6, readMBps: avg(a.readBytes, b.readBytes) / 1e6,
      exitsPerSec: avg(a.exits, b.exits), interruptsPerSec: avg(a.interrupts, b.interrupts),
      fioIops, cpuBenchOpsPerSec, pinning,
    };
  } finally {
    await stopUp(up);
  }
}

export async function compare(o: CompareOptions, log: (s: string) => void = () => {}): Promise<CompareReport> {
  const legacy = await runMode('legacy', o, log);
  const offload = await runMode('offload', o, log);
  const machineCpus = availableParallelism();
  const hostCores = legacy.pinning.pinned ? 1 : machineCpus;
  const reclaimedCores = legacy.ioVirtCores - offload.ioVirtCores;
  return {
    at: new Date().toISOString(),
    options: o,
    machineCpus,
    hostCores,
    legacy,
    offload,
    reclaimedCores,
    reclaimedPercent: (100 * reclaimedCores) / hostCores,
    reclaimedCoresInclFabric: legacy.ioVirtCoresInclFabric - offload.ioVirtCoresInclFabric,
    reclaimedUsPerIo: legacy.hostUsPerIo !== null && offload.hostUsPerIo !== null ? legacy.hostUsPerIo - offload.hostUsPerIo : null,
    cpuBenchRatio: legacy.cpuBenchOpsPerSec && offload.cpuBenchOpsPerSec ? offload.cpuBenchOpsPerSec / legacy.cpuBenchOpsPerSec : null,
    ioRatio: legacy.iops > 0 ? offload.iops / legacy.iops : 0,
  };
}

const f2 = (v: number) => v.toFixed(2);
const f3 = (v: number) => v.toFixed(3);

export function toMarkdown(r: CompareReport): string {
  const L = r.legacy;
  const O = r.offload;
  const row = (name: string, l: string, o: string) => `| ${name} | ${l} | ${o} |`;
  const pinText = (p: Pinning) => (p.pinned ? `yes (host ${p.host}; card ${p.card})` : `no (${p.reason ?? ''})`);
  return [
    `## nitrolab compare — ${r.at}`,
    '',
    `Workload: ${r.options.ioInstances} instance(s) running fio ${r.options.rw} 4 KiB, iodepth ${r.options.iodepth}` +
      `${r.options.rateIops > 0 ? `, rate_iops ${r.options.rateIops} each` : ', unpaced'}` +
      `${r.options.cpuBench ? ' + 1 instance running cpu-bench' : ''}; window ${f2(L.windowSec)} s / ${f2(O.windowSec)} s; link ${r.options.link};` +
      ` machine ${r.machineCpus} CPUs; host process on ${r.hostCores} core(s).`,
    '',
    '| | legacy | offload |',
    '|---|---:|---:|',
    row('host cores on I/O virtualization (hypervisor + device emulation)', f3(L.ioVirtCores), f3(O.ioVirtCores)),
    row('… hypervisor', f3(L.host.hypervisor), f3(O.host.hypervisor)),
    row('… device emulation', f3(L.host.deviceEmulation), f3(O.host.deviceEmulation)),
    row('… per I/O (µs of host CPU)', L.hostUsPerIo !== null ? f2(L.hostUsPerIo) : 'n/a', O.hostUsPerIo !== null ? f2(O.hostUsPerIo) : 'n/a'),
    row('host fabric (emulated PCIe wires; not a cost on real hardware)', f3(L.host.fabric), f3(O.host.fabric)),
    row('host guest cores', f3(L.host.guest), f3(O.host.guest)),
    row('card cores (nvme + net + mgmt + fabric)', f3(L.card.nvme + L.card.net + L.card.mgmt + L.card.fabric), f3(O.card.nvme + O.card.net + O.card.mgmt + O.card.fabric)),
    row('VM exits / s', f2(L.exitsPerSec), f2(O.exitsPerSec)),
    row('interrupts / s', f2(L.interruptsPerSec), f2(O.interruptsPerSec)),
    row('I/O: IOPS (device counters)', f2(L.iops), f2(O.iops)),
    row('I/O: MB/s written / read', `${f2(L.writeMBps)} / ${f2(L.readMBps)}`, `${f2(O.writeMBps)} / ${f2(O.readMBps)}`),
    row('I/O: fio-reported IOPS (whole run)', String(L.fioIops), String(O.fioIops)),
    row('guest cpu-bench ops/s', String(L.cpuBenchOpsPerSec ?? 'n/a'), String(O.cpuBenchOpsPerSec ?? 'n/a')),
    row('host and card pinned to separate cores', pinText(L.pinning), pinText(O.pinning)),
    '',
    `**Reclaimed: ${f3(r.reclaimedCores)} host cores = ${f2(r.reclaimedPercent)} % of the host's ${r.hostCores} core(s)**` +
      ` (counting the emulated wires too: ${f3(r.reclaimedCoresInclFabric)} cores).` +
      ` Guest cpu-bench offload/legacy: ${r.cpuBenchRatio !== null ? f3(r.cpuBenchRatio) : 'n/a'}; I/O offload/legacy: ${f3(r.ioRatio)}.`,
    ...(Math.abs(r.ioRatio - 1) > 0.1
      ? ['', `Note: the two modes did different amounts of I/O (offload/legacy ${f3(r.ioRatio)}), so reclaimed cores compare unequal work;` +
        ` the per-I/O row (${r.reclaimedUsPerIo !== null ? f2(r.reclaimedUsPerIo) : 'n/a'} µs of host CPU saved per I/O) does not depend on it.` +
        ' Use --rate-iops for equal work in both modes.']
      : []),
    '',
  ].join('\n');
}

export async function runCompare(argv: string[]): Promise<number> {
  const o = parseCompareArgs(argv);
  const { json, markdown, ...opts } = o;
  const report = await compare(opts, (s) => process.stderr.write(`compare: ${s}\n`));
  const md = toMarkdown(report);
  process.stdout.write(md);
  if (json !== undefined) writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  if (markdown !== undefined) writeFileSync(markdown, md);
  return 0;
}

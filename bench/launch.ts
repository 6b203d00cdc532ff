// Instance launch and memory figures (issue 8 §5, §6) against the real `nitrolab up` (control plane, card and host
// processes on loopback), as a user would over REST: REST call → `running` p50/p99 and instances/s over N instances,
// RSS growth of the card + host processes per instance, and how many instances one host holds before launch latency
// doubles, or free memory runs low (bounded by `--max`: that host's card is started with `--card-vcpus` above the
// bound, so its default advertised capacity — 96 emu.nano on 2 cores — does not stop the scan, and the instances
// go into a /22 subnet, since the default /24 holds only 251).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { fromRuns, median, type BenchContext, type BenchRecord } from './lib/record.ts';
import { stopChild } from '../src/common/stop-child.ts';

const BIN = fileURLToPath(new URL('../bin/nitrolab.js', import.meta.url));
const GUEST_MEM_MIB = 4;
/** The admin API key `up` is started with (NITROLAB_API_KEY), sent as a bearer token. */
export const API_KEY = `bench-${randomBytes(12).toString('hex')}`;

export interface Up { url: string; proc: ChildProcess; dataDir: string; stop(): Promise<void> }

/** `nodeArgs`: node flags for the `up` process itself (bench/profile-launch.ts passes `--cpu-prof`). */
export async function startUp(args: string[], nodeArgs: string[] = []): Promise<Up> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-up-'));
  const proc = spawn(process.execPath, [...nodeArgs, BIN, 'up', '--port', '0', '--data-dir', dataDir, '--guest-mem-mib', String(GUEST_MEM_MIB), ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, NITROLAB_LOG_LEVEL: 'warn', NITROLAB_API_KEY: API_KEY },
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`nitrolab up not ready: ${err}`)), 90_000);
    proc.on('message', (m: { type?: string; url?: string }) => { if (m.type === 'ready' && m.url) { clearTimeout(t); resolve(m.url); } });
    proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`nitrolab up exited ${c}: ${err}`)); });
  });
  return {
    url, proc, dataDir,
    async stop() {
      await stopChild(proc, 15_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Summed VmRSS (bytes) of every descendant process of `pid` (the card and host processes of `up`). */
function descendantsRss(pid: number): number {
  let total = 0;
  const walk = (p: number): void => {
    let kids: number[] = [];
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        kids = kids.concat(readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/u).filter(Boolean).map(Number));
      }
    } catch { return; }
    for (const k of kids) {
      try {
        const m = /VmRSS:\s+(\d+) kB/u.exec(readFileSync(`/proc/${k}/status`, 'utf8'));
        total += Number(m?.[1] ?? 0) * 1024;
      } catch { /* exited */ }
      walk(k);
    }
  };
  walk(pid);
  return total;
}

export async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

/** POST one instance and poll until `running`: ms from the REST call to running, or an error string. */
async function launchOne(url: string, subnetId?: string): Promise<number | string> {
  const t0 = performance.now();
  const r = await api(url, 'POST', '/v1/instances', { instanceType: 'emu.nano', volumes: [{ sizeGiB: 1 }], ...(subnetId ? { subnetId } : {}) });
  const inst = (r.body.instances as { instanceId: string }[] | undefined)?.[0];
  if (r.status !== 201 || inst === undefined) return `${r.status} ${JSON.stringify(r.body).slice(0, 200)}`;
  for (;;) {
    const g = await api(url, 'GET', `/v1/instances/${inst.instanceId}`);
    const state = (g.body.state as { name?: string } | undefined)?.name;
    if (state === 'running') return performance.now() - t0;
    if (state !== 'pending') return `instance ${inst.instanceId} went ${state ?? '?'}`;
    if (performance.now() - t0 > 60_000) return `instance ${inst.instanceId} not running after 60 s`;
    await new Promise((res) => setTimeout(res, 3));
  }
}

/** MemAvailable of the machine (bytes): the scan stops well before the machine could swap or OOM. */
function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/u.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return freemem();
}
const MIN_AVAILABLE = 3 << 30;

/** A /22 in the default VPC (10.0.0.0/16) for the one-host scan: 1019 addresses. */
async function bigSubnet(url: string): Promise<string> {
  const vpcs = (await api(url, 'GET', '/v1/vpcs')).body.vpcs as { vpcId: string; isDefault: boolean }[] | undefined;
  const vpcId = vpcs?.find((v) => v.isDefault)?.vpcId;
  const r = await api(url, 'POST', '/v1/subnets', { vpcId, cidrBlock: '10.0.4.0/22' });
  const id = r.body.subnetId;
  if (r.status !== 201 || typeof id !== 'string') throw new Error(`subnet for the one-host scan refused: ${r.status} ${JSON.stringify(r.body)}`);
  return id;
}

const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN; };

export async function runLaunch(ctx: BenchContext, transport: 'socket' | 'shm'): Promise<BenchRecord[]> {
  const recs: BenchRecord[] = [];
  const n = ctx.quick ? 10 : 100;
  const o = { transport, mode: 'offload' } as const;
  // 1. n instances, 4 launches in flight, over 2 hosts (one card advertises 48 vCPUs per core: 96 emu.nano here).
  ctx.progress(`launch ${transport}: ${n} instances over REST`);
  const cap = ctx.maxInstances ?? (ctx.quick ? 20 : 600);
  // The one-host scan's card advertises room for the whole bound (one vCPU per emu.nano, and a few spare).
  const scanArgs = ['--link', transport, '--hosts', '1', '--card-vcpus', String(cap + n + 8)];
  // --quick: one `up` with one host for both parts (an `up` start costs ~10 s on a loaded machine).
  let up = await startUp(ctx.quick ? scanArgs : ['--link', transport, '--hosts', '2']);
  try {
    await launchOne(up.url); // warm-up
    const rss0 = descendantsRss(up.proc.pid as number);
    const lat: number[] = [];
    const errors: string[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < n) {
        next++;
        const r = await launchOne(up.url);
        if (typeof r === 'number') lat.push(r); else errors.push(r);
        if ((lat.length + errors.length) % 10 === 0) ctx.progress(`launch ${transport}: ${lat.length + errors.length}/${n}`);
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = descendantsRss(up.proc.pid as number);
    const note = `${lat.length} launched${errors.length ? `, ${errors.length} failed: ${errors[0]}` : ''}; emu.nano + 1 GiB EBS volume; ${ctx.quick ? 1 : 2} host(s); 4 launches in flight; polled every 3 ms`;
    recs.push(fromRuns('launch.rest-to-running.p50', 'ms', [pct(lat, 50)], { ...o, note }));
    recs.push(fromRuns('launch.rest-to-running.p99', 'ms', [pct(lat, 99)], { ...o, note }));
    recs.push(fromRuns('launch.instances-per-second', 'instances/s', [lat.length / secs], { ...o, note }));
    recs.push(fromRuns('memory.rss-growth-per-instance', 'MiB', [(rss1 - rss0) / Math.max(1, lat.length) / 1048576], {
      ...o, note: `RSS growth of the card + host processes over ${lat.length} instances / ${lat.length}; includes the guest pages each guest touched (at most its ${GUEST_MEM_MIB} MiB of guest RAM)`,
    }));
  } finally {
    if (!ctx.quick) await up.stop();
  }
  // 2. One host: launch one at a time until p50 of the last 10 launches is twice the first 10's, memory runs low, a
  //    launch is refused, or the bound.
  ctx.progress(`launch ${transport}: instances one host holds (stop at ${cap}, doubled latency, or low memory)`);
  if (!ctx.quick) up = await startUp(scanArgs);
  try {
    const subnetId = await bigSubnet(up.url);
    if (!ctx.quick) await launchOne(up.url, subnetId);
    const before = ctx.quick ? n + 1 : 1; // instances already running on this host
    const rss0 = descendantsRss(up.proc.pid as number);
    const lat: number[] = [];
    let stop = `reached the bound of ${cap}`;
    while (before + lat.length < cap) {
      if (memAvailable() < MIN_AVAILABLE) { stop = `stopped with ${(memAvailable() / 2 ** 30).toFixed(1)} GiB of memory available`; break; }
      const r = await launchOne(up.url, subnetId);
      if (typeof r === 'string') { stop = `launch ${before + lat.length + 1} refused: ${r.slice(0, 120)}`; break; }
      lat.push(r);
      if (lat.length % 20 === 0) ctx.progress(`launch ${transport} (one host): ${before + lat.length} running, last 10 p50 ${median(lat.slice(-10)).toFixed(0)} ms, ${(memAvailable() / 2 ** 30).toFixed(1)} GiB available`);
      if (lat.length >= 20 && median(lat.slice(-10)) >= 2 * median(lat.slice(0, 10))) { stop = 'launch latency doubled'; break; }
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = descendantsRss(up.proc.pid as number);
    const held = before + lat.length;
    const first = median(lat.slice(0, 10));
    const last = median(lat.slice(-10));
    recs.push(fromRuns('memory.instances-per-host-before-latency-doubles', 'instances', [held], {
      ...o, note: `${stop}; launch p50 first 10 ${first.toFixed(0)} ms, last 10 ${last.toFixed(0)} ms (${(last / first).toFixed(2)}×); card advertised ${cap + n + 8} vCPUs (--card-vcpus)`,
    }));
    recs.push(fromRuns('memory.rss-growth-per-instance.one-host-scan', 'MiB', [(rss1 - rss0) / Math.max(1, lat.length) / 1048576], {
      ...o, note: `RSS growth of the card + host processes over the scan's ${lat.length} launches (${((rss1 - rss0) / 2 ** 30).toFixed(2)} GiB in all; ${(rss1 / 2 ** 30).toFixed(2)} GiB at ${held} instances); includes up to ${GUEST_MEM_MIB} MiB of guest RAM each`,
    }));
  } finally {
    await up.stop();
  }
  return recs;
}

// `nitrolab soak`: a bounded soak. It starts its own `nitrolab up` (temp data dir, loopback, its own API key), keeps
// M instances busy with mixed I/O (fio random write + verify, random read, sequential write, dd) — replacing each
// instance with a fresh one when its jobs are done, so launch and terminate churn too — and samples the RSS of
// every nitrolab process. It reports errors (must be 0: a fio I/O or verify error, an error on a console, a failed
// launch or terminate, a process that died), RSS over time (must plateau) and latency drift (p99 of the last third
// of jobs against the first third). Exit 0 only with zero errors and a plateaued RSS.
//   nitrolab soak --minutes N [--instances M] [--json FILE] [--link socket|shm]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { intFlag, oneOf, parse, UsageError } from './args.ts';
import { stopChild } from '../common/stop-child.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

const JOBS = [
  'fio --name=rw --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=2m --verify=crc32c',
  'fio --name=rr --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=16 --size=2m',
  'fio --name=sw --filename=/dev/nvme0n1 --rw=write --bs=64k --iodepth=4 --size=4m --verify=crc32c',
  'dd if=/dev/urandom of=/dev/nvme0n1 bs=4096 count=64',
  'fio --name=rw2 --filename=/dev/nvme0n1 --rw=randwrite --bs=16k --iodepth=4 --size=2m --verify=crc32c',
];

export interface SoakReport {
  minutes: number;
  instances: number;
  link: string;
  errors: number;
  errorSamples: string[];
  launched: number;
  completedInstances: number;
  fioJobs: number;
  rss: { tSec: number; totalMiB: number; byProcess: Record<string, number> }[];
  rssPlateau: { firstHalfMaxMiB: number; secondHalfMaxMiB: number; growthPct: number; firstHalfSlopeMiBPerMin: number; secondHalfSlopeMiBPerMin: number; ok: boolean };
  latency: { p99FirstThirdUs: number; p99LastThirdUs: number; driftPct: number };
}

interface Job { tSec: number; iops: number; p99: number }

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch { return 0; }
}

function descendants(pid: number): { pid: number; name: string }[] {
  let out = '';
  try { out = execFileSync('ps', ['-o', 'pid=,ppid=,args=', '-e'], { encoding: 'utf8' }); } catch { return []; }
  const rows = out.split('\n').map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const found: { pid: number; name: string }[] = [];
  const walk = (p: number) => {
    for (const r of rows.filter((x) => x.ppid === p)) {
      const name = / card /.test(r.args) ? 'card' : / host /.test(r.args) ? 'host' : 'other';
      found.push({ pid: r.pid, name: `${name}-${r.pid}` });
      walk(r.pid);
    }
  };
  walk(pid);
  return found;
}

/** Least-squares slope of RSS over time, MiB per minute. */
function slopePerMin(xs: { tSec: number; totalMiB: number }[]): number {
  if (xs.length < 2) return 0;
  const mt = xs.reduce((a, s) => a + s.tSec, 0) / xs.length;
  const mr = xs.reduce((a, s) => a + s.totalMiB, 0) / xs.length;
  const num = xs.reduce((a, s) => a + (s.tSec - mt) * (s.totalMiB - mr), 0);
  const den = xs.reduce((a, s) => a + (s.tSec - mt) ** 2, 0);
  return den === 0 ? 0 : Math.round((num / den) * 60 * 10) / 10;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : 0; };

export async function runSoak(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    minutes: { type: 'string' }, instances: { type: 'string' }, json: { type: 'string' }, link: { type: 'string' }, quiet: { type: 'boolean' },
  });
  const minutes = Number(values.minutes ?? '1');
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new UsageError(`--minutes ${values.minutes} must be in (0, 1440]`);
  const instances = intFlag('instances', values.instances, 3, 1, 200);
  const link = oneOf('link', values.link, ['socket', 'shm'] as const, 'socket');
  const say = (s: string) => { if (!values.quiet) process.stdout.write(s + '\n'); };

  const dataDir = mkdtempSync(join(tmpdir(), 'nl-soak-'));
  const key = `nla_soak_${randomBytes(12).toString('hex')}`;
  const up = spawn(process.execPath, ['--import', 'tsx', MAIN, 'up', '--port', '0', '--data-dir', dataDir, '--link', link, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, NITROLAB_API_KEY: key },
  });
  let upOut = '';
  up.stdout?.on('data', (d: Buffer) => { upOut += d.toString(); if (upOut.length > 1 << 20) upOut = upOut.slice(-(1 << 19)); });
  up.stderr?.on('data', (d: Buffer) => { upOut += d.toString(); });
  const errors: string[] = [];
  const jobs: Job[] = [];
  const rss: SoakReport['rss'] = [];
  let launched = 0;
  let completed = 0;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nitrolab up not ready in 90 s:\n${upOut}`)), 90_000);
      up.on('message', (m: { type?: string; url?: string }) => { if (m.type === 'ready' && m.url) { clearTimeout(timer); resolve(m.url); } });
      up.on('exit', (code) => { clearTimeout(timer); reject(new Error(`nitrolab up exited (${code}):\n${upOut}`)); });
    });
    const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* console text */ }
      return { status: res.status, body: parsed as T };
    };
    const t0 = Date.now();
    const deadline = t0 + minutes * 60_000;
    const tSec = () => Math.round((Date.now() - t0) / 100) / 10;
    say(`soak: ${minutes} min, ${instances} instances, link ${link}, ${url}`);

    const sampler = setInterval(() => {
      const procs = [{ pid: up.pid ?? 0, name: 'up' }, ...descendants(up.pid ?? 0)];
      const byProcess: Record<string, number> = {};
      for (const p of procs) byProcess[p.name] = Math.round(rssOf(p.pid) * 10) / 10;
      const total = Math.round(Object.values(byProcess).reduce((a, b) => a + b, 0) * 10) / 10;
      rss.push({ tSec: tSec(), totalMiB: total, byProcess });
    }, Math.max(1000, Math.min(10_000, minutes * 60_000 / 30)));

    const slot = async (n: number): Promise<void> => {
      for (let round = 0; Date.now() < deadline; round++) {
        const userData = Array.from({ length: 6 }, (_, i) => JOBS[(n + round + i) % JOBS.length]).join('\n');
        const l = await call<{ instances?: { instanceId: string }[] }>('POST', '/v1/instances', { instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData });
        const id = l.body.instances?.[0]?.instanceId;
        if (l.status !== 201 || id === undefined) { errors.push(`launch: ${l.status} ${JSON.stringify(l.body).slice(0, 200)}`); await new Promise((r) => setTimeout(r, 1000)); continue; }
        launched++;
        let text = '';
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          const c = await call<string>('GET', `/v1/instances/${id}/console`);
          text = typeof c.body === 'string' ? c.body : '';
          if (/cloud-init: user data finished/.test(text)) break;
          if (Date.now() > deadline + 120_000) { errors.push(`${id}: user data did not finish`); break; }
        }
        for (const m of text.matchAll(/fio: \w+ iops=(\d+).*?lat_p99=(\d+)us.*?io_errors=(\d+) verify_errors=(\d+|n\/a)/g)) {
          jobs.push({ tSec: tSec(), iops: Number(m[1]), p99: Number(m[2]) });
          if (m[3] !== '0') errors.push(`${id}: fio io_errors=${m[3]}`);
          if (m[4] !== '0' && m[4] !== 'n/a') errors.push(`${id}: fio verify_errors=${m[4]}`);
        }
        for (const line of text.split('\n')) {
          if (/\berror\b|\bfailed\b|timeout|Input\/output|No space|not found/i.test(line) && !/io_errors=0 verify_errors=(0|n\/a)/.test(line)) errors.push(`${id}: ${line.trim().slice(0, 200)}`);
        }
        completed++;
        const d = await call('DELETE', `/v1/instances/${id}`);
        if (d.status !== 200) errors.push(`terminate ${id}: ${d.status}`);
      }
    };
    await Promise.all(Array.from({ length: instances }, (_, i) => slot(i)));
    clearInterval(sampler);
    if (/\bdied\b/.test(upOut)) errors.push(`a process died: ${/.*\bdied\b.*/.exec(upOut)?.[0]}`);

    const half = Math.floor(rss.length / 2);
    const firstMax = Math.max(0, ...rss.slice(0, half).map((s) => s.totalMiB));
    const secondMax = Math.max(0, ...rss.slice(half).map((s) => s.totalMiB));
    const growthPct = firstMax > 0 ? Math.round((secondMax / firstMax - 1) * 1000) / 10 : 0;
    const slope1 = slopePerMin(rss.slice(0, half));
    const slope2 = slopePerMin(rss.slice(half));
    const third = Math.max(1, Math.floor(jobs.length / 3));
    const p99First = median(jobs.slice(0, third).map((j) => j.p99));
    const p99Last = median(jobs.slice(-third).map((j) => j.p99));
    const report: SoakReport = {
      minutes, instances, link, errors: errors.length, errorSamples: errors.slice(0, 20), launched, completedInstances: completed,
      fioJobs: jobs.length, rss,
      // Plateau: RSS still rising in the second half (after warm-up) must rise at most half as fast as in the first,
      // or less than 10 MiB/min in absolute terms. A steady climb (a leak per instance lifecycle) fails.
      rssPlateau: { firstHalfMaxMiB: firstMax, secondHalfMaxMiB: secondMax, growthPct, firstHalfSlopeMiBPerMin: slope1, secondHalfSlopeMiBPerMin: slope2, ok: slope2 <= 10 || slope2 <= 0.5 * slope1 },
      latency: { p99FirstThirdUs: p99First, p99LastThirdUs: p99Last, driftPct: p99First > 0 ? Math.round((p99Last / p99First - 1) * 1000) / 10 : 0 },
    };
    say(`soak: errors=${report.errors} instances launched=${launched} completed=${completed} fio jobs=${jobs.length}`);
    say(`soak: RSS first-half max ${firstMax} MiB, second-half max ${secondMax} MiB (${growthPct} %), slope ${slope1} → ${slope2} MiB/min: ${report.rssPlateau.ok ? 'plateau' : 'GROWING'}`);
    say(`soak: fio p99 latency first third ${p99First} us, last third ${p99Last} us (drift ${report.latency.driftPct} %)`);
    for (const e of report.errorSamples) say(`  ERROR ${e}`);
    if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
    return report.errors === 0 && report.rssPlateau.ok ? 0 : 1;
  } finally {
    await stopChild(up, 15_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

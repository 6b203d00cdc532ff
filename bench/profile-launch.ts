// Profile (not a benchmark figure): the "4 in flight" launch figure of bench/launch.ts against a real `nitrolab up`,
// with `node --cpu-prof` on the `up` process itself (control plane, block store: startUp's node flags), on its card
// and host processes (NITROLAB_CPU_PROF, src/cli/spawn.ts) and an inspector profile in their worker threads (pCPU
// workers, and the card on shm: src/common/ts-worker.ts). Launches N emu.nano + 1 GiB EBS instances over REST, K in
// flight, each polled every 3 ms until `running` as bench/launch.ts does; prints REST → running p50/p99, where one
// launch's wall time goes (client timestamps, the control plane's and the card's transition times, the guest's dmesg
// timestamps), and the top self-time functions of every process and thread over the launch window.
// Usage: npx tsx bench/profile-launch.ts [n=40] [inFlight=4] [socket|shm] [noprof]
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { api, startUp } from './launch.ts';
import { consoleText, waitFor } from './net.ts';
import { windowSelf, type CpuProfile } from './lib/profile.ts';

const n = Number(process.argv[2] ?? 40);
const inFlight = Number(process.argv[3] ?? 4);
const link = process.argv[4] ?? 'socket';
const prof = process.argv[5] !== 'noprof';
const out = new URL(`./results/profiles/launch-${link}/`, import.meta.url).pathname;
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN; };
const ms = (x: number): string => `${x.toFixed(0)} ms`;

/** One launch: wall-clock ms (Date.now(), the clock of the control plane's and the card's ISO timestamps). */
interface Launch { id: string; t0: number; posted: number; pendingAt: number; runningAt: number; seen: number; polls: number }

async function launchOne(url: string): Promise<Launch> {
  const t0 = Date.now();
  const r = await api(url, 'POST', '/v1/instances', { instanceType: 'emu.nano', volumes: [{ sizeGiB: 1 }] });
  const posted = Date.now();
  const id = (r.body.instances as { instanceId: string }[] | undefined)?.[0]?.instanceId;
  if (r.status !== 201 || id === undefined) throw new Error(`launch refused: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  for (let polls = 1; ; polls++) {
    const g = await api(url, 'GET', `/v1/instances/${id}`);
    const state = (g.body.state as { name?: string } | undefined)?.name;
    if (state === 'running') {
      const seen = Date.now();
      const tr = (g.body.transitions ?? []) as { name: string; at: string }[];
      const at = (s: string): number => Date.parse(tr.find((x) => x.name === s)?.at ?? '');
      return { id, t0, posted, pendingAt: at('pending'), runningAt: at('running'), seen, polls };
    }
    if (state !== 'pending') throw new Error(`instance ${id} went ${state ?? '?'}`);
    if (Date.now() - t0 > 60_000) throw new Error(`instance ${id} not running after 60 s`);
    await new Promise((res) => setTimeout(res, 3));
  }
}

/** The guest's boot steps from its dmesg lines on the console (`[    0.012345] text`, seconds since its kernel
 *  started): total boot time, and the median gap before each kind of line (digits and ids folded). */
function bootSteps(consoles: string[]): { boot: number[]; steps: { line: string; median: number; count: number }[] } {
  const boot: number[] = [];
  const gaps = new Map<string, number[]>();
  for (const text of consoles) {
    const lines = [...text.matchAll(/^\[\s*(\d+\.\d+)\] (.*)$/gmu)].map((m) => ({ t: Number(m[1]) * 1000, text: m[2]! }));
    const init = lines.find((l) => l.text.startsWith('Run /sbin/init'));
    if (init) boot.push(init.t);
    lines.forEach((l, i) => {
      if (i === 0 || (init && l.t > init.t)) return;
      const key = l.text.replace(/\S*\d\S*/gu, '#').slice(0, 70);
      gaps.set(key, [...(gaps.get(key) ?? []), l.t - lines[i - 1]!.t]);
    });
  }
  const steps = [...gaps].map(([line, g]) => ({ line, median: pct(g, 50), count: g.length })).sort((a, b) => b.median - a.median);
  return { boot, steps };
}

/** Samples in [fromUs, toUs] by the innermost src/ function on their stack (the library and native time it calls,
 *  e.g. better-sqlite3's `prepare` or a socket write, charged to our code), as shares of the busy samples. */
function srcSelf(p: CpuProfile, fromUs: number, toUs: number, n: number): { fn: string; share: number }[] {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const by = new Map<string, number>();
  let t = p.startTime;
  let busy = 0;
  (p.samples ?? []).forEach((id, i) => {
    t += p.timeDeltas?.[i] ?? 0;
    if (t < fromUs || t > toUs || /^\((idle|program|garbage collector)\)$/u.test(byId.get(id)?.callFrame.functionName ?? '')) return;
    busy++;
    let at: number | undefined = id;
    while (at !== undefined && !byId.get(at)!.callFrame.url.includes('/src/')) at = parent.get(at);
    const cf = at === undefined ? undefined : byId.get(at)!.callFrame;
    const key = cf ? `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/src\//u, 'src/')}` : '(no src/ frame: node internals, tsx)';
    by.set(key, (by.get(key) ?? 0) + 1);
  });
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, h]) => ({ fn, share: h / Math.max(1, busy) }));
}

/** pid → 'card host-0' / 'host host-0' for the children of `up` (from their command lines). */
function childNames(upPid: number): Map<number, string> {
  const names = new Map<number, string>([[upPid, 'up (control plane, block store)']]);
  try {
    for (const tid of readdirSync(`/proc/${upPid}/task`)) {
      for (const pid of readFileSync(`/proc/${upPid}/task/${tid}/children`, 'utf8').trim().split(/\s+/u).filter(Boolean).map(Number)) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const i = argv.findIndex((a) => a.endsWith('main.ts'));
        names.set(pid, `${argv[i + 1] ?? '?'} ${argv[argv.indexOf('--host-id') + 1] ?? ''}`.trim());
      }
    }
  } catch { /* not Linux */ }
  return names;
}

if (prof) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  process.env.NITROLAB_CPU_PROF = out;
  // Worker threads profile from their start (with `up`) for this long, then write: past the launches below.
  process.env.NITROLAB_CPU_PROF_MS = String(Math.max(40_000, 25_000 + (n * 1500) / inFlight));
}
const load0 = loadavg()[0]!;
const PCPUS = 2;
const up = await startUp(['--hosts', '1', '--link', link, '--pcpus', String(PCPUS)], prof ? ['--cpu-prof', `--cpu-prof-dir=${out}`] : []);
const names = childNames(up.proc.pid as number);
const win = [0, 0];
const launches: Launch[] = [];
try {
  await launchOne(up.url); // warm-up, as bench/launch.ts
  let next = 0;
  win[0] = nowUs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++;
      launches.push(await launchOne(up.url));
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  win[1] = nowUs();
  const lat = launches.map((l) => l.seen - l.t0);
  process.stdout.write(`${link}: ${n} launches, ${inFlight} in flight, in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)}/s); ` +
    `REST → running p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}; 1-min load ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after\n`);
  const phase = (name: string, f: (l: Launch) => number): void => {
    const xs = launches.map(f).filter(Number.isFinite);
    process.stdout.write(`  ${name.padEnd(74)} p50 ${ms(pct(xs, 50)).padStart(7)}  p99 ${ms(pct(xs, 99)).padStart(7)}\n`);
  };
  phase('POST → pending recorded (launch queue wait, card survey, SQLite insert)', (l) => l.pendingAt - l.t0);
  phase('pending recorded → POST reply (volume export, card launch + boot-vm, VPC push)', (l) => l.posted - l.pendingAt);
  phase('POST reply → card saw the guest booted', (l) => l.runningAt - l.posted);
  phase('card saw running → a poll saw it', (l) => l.seen - l.runningAt);
  phase('POST round trip (the control plane serialises launches)', (l) => l.posted - l.t0);
  const starts = launches.map((l) => l.pendingAt).sort((a, b) => a - b);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  process.stdout.write(`  gap between consecutive pendings (the launch queue's hold time while it is never empty): p50 ${ms(pct(gaps, 50))}\n`);
  process.stdout.write(`  polls per launch p50 ${pct(launches.map((l) => l.polls), 50)}\n`);
  const consoles = await Promise.all(launches.map((l) => consoleText(up.url, l.id)));
  const { boot, steps } = bootSteps(consoles);
  process.stdout.write(`  guest boot (its dmesg: kernel start → "Run /sbin/init") p50 ${ms(pct(boot, 50))}, p99 ${ms(pct(boot, 99))} over ${boot.length}; slowest steps (median gap before the line):\n`);
  for (const s of steps.slice(0, 8)) process.stdout.write(`    ${ms(s.median).padStart(7)}  ${s.line}\n`);
  const median = consoles.map((c) => ({ c, t: bootSteps([c]).boot[0] ?? NaN })).sort((a, b) => a.t - b.t)[Math.floor(consoles.length / 2)];
  process.stdout.write(`  dmesg of the median boot:\n${(median?.c.match(/^\[[^\n]*$/gmu) ?? []).slice(0, 16).map((l) => `    ${l}`).join('\n')}\n`);
  // The workers write their profiles after NITROLAB_CPU_PROF_MS; the processes theirs when they exit.
  // Two pCPU workers (--pcpus 2), and the card's worker on shm.
  const workers = PCPUS + (link === 'shm' ? 1 : 0);
  if (prof) await waitFor(`${workers} worker profiles`, async () => ((await readdir(out)).filter((f) => f.startsWith('worker-')).length >= workers ? true : undefined), 120_000);
} finally {
  await up.stop();
}
if (prof) {
  for (const f of (await readdir(out)).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    const p = JSON.parse(await readFile(join(out, f), 'utf8')) as CpuProfile;
    const pid = Number(/^(?:CPU\.\d+\.\d+\.|worker-)(\d+)/u.exec(f)?.[1]);
    const role = p.nodes.some((x) => x.callFrame.url.endsWith('card-worker.ts')) ? 'card worker' : p.nodes.some((x) => x.callFrame.url.endsWith('pcpu-worker.ts')) ? 'pCPU worker' : 'thread';
    const tid = Number(/^CPU\.\d+\.\d+\.\d+\.(\d+)\./u.exec(f)?.[1] ?? 0); // `--cpu-prof` names: CPU.<date>.<time>.<pid>.<tid>.<seq>
    const who = f.startsWith('worker-') ? `${role} of ${names.get(pid) ?? pid}` : `${names.get(pid) ?? `pid ${pid}`}${tid ? ` thread ${tid}` : ''}`;
    const top = windowSelf(p, win[0]!, win[1]!, 1000);
    if ((top[0]?.share ?? 1) >= 0.995) { process.stdout.write(`\n${who} — ${f}: idle\n`); continue; }
    const idle = top.filter((x) => /\((idle|program|garbage collector)\)/u.test(x.fn)).map((x) => `${x.fn.trim()} ${(x.share * 100).toFixed(1)}%`).join(', ');
    process.stdout.write(`\n${who} — ${f} (${((win[1]! - win[0]!) / 1e6).toFixed(1)} s of launches; ${idle}):\n`);
    for (const x of top.slice(0, 14)) process.stdout.write(`  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.fn}\n`);
    process.stdout.write('  busy samples by the innermost src/ function on the stack:\n');
    for (const x of srcSelf(p, win[0]!, win[1]!, 10)) process.stdout.write(`  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.fn}\n`);
  }
}
process.exit(0);

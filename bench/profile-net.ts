// Profile (not a benchmark figure): guest-to-guest UDP on one host of a real `nitrolab up`, with `node --cpu-prof`
// passed to every process through NODE_OPTIONS (the card process, the host process and its pCPU worker threads,
// where the guests run). Prints both udp-perf reports, the driver/device counters, and the top self-time functions
// of every profile written. Usage: npx tsx bench/profile-net.ts [size=1472] [seconds=3] [socket|shm] [noprof]
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startUp } from './launch.ts';
import { consoleText, launch, waitFor } from './net.ts';
import { windowSelf, type CpuProfile } from './lib/profile.ts';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const size = Number(process.argv[2] ?? 1472);
const secs = Number(process.argv[3] ?? 3);
const link = process.argv[4] ?? 'socket';
const prof = process.argv[5] !== 'noprof';
const out = new URL(`./results/profiles/net-${link}-${size}B/`, import.meta.url).pathname;
if (prof) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  process.env.NITROLAB_CPU_PROF = out;
  process.env.NITROLAB_CPU_PROF_MS = String((secs + 12) * 1000); // worker threads: from their start to past the stream
}
const up = await startUp(['--hosts', '1', '--link', link]);
const win = [0, 0];
const report = /udp-perf: (?:sent|received) [^\n]*/gu;
try {
  const rx = await launch(up.url, `udp-perf recv --port 5001 --seconds ${secs}\nip -s -d link show eth0`);
  const tx = await launch(up.url, `sleep 1\nudp-perf send ${rx.privateIp} --port 5001 --size ${size} --seconds ${secs}\nip -s -d link show eth0`);
  // The stream starts about 1 s after the sender is running; profile summaries cover its middle.
  win[0] = nowUs() + 1_300_000;
  win[1] = win[0] + (secs - 0.6) * 1e6;
  const got = await waitFor('udp-perf reports', async () => {
    const r = (await consoleText(up.url, rx.instanceId)).match(report);
    const s = (await consoleText(up.url, tx.instanceId)).match(report);
    return r && s ? [...s, ...r] : undefined;
  }, (secs + 40) * 1000);
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(`${got.join('\n')}\n`);
  for (const id of [tx.instanceId, rx.instanceId]) {
    const text = await consoleText(up.url, id);
    process.stdout.write(`--- ${id} console tail ---\n${text.split('\n').slice(-12).join('\n')}\n`);
  }
  // The workers write their profiles after NITROLAB_CPU_PROF_MS; the processes theirs when they exit.
  if (prof) await waitFor('worker profiles', async () => ((await readdir(out)).some((f) => f.startsWith('worker-')) ? true : undefined), 60_000);
} finally {
  await up.stop();
}
if (prof) {
  for (const f of (await readdir(out)).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(await readFile(join(out, f), 'utf8')) as CpuProfile;
    const top = windowSelf(p, win[0]!, win[1]!, 1000);
    const idle = top.filter((x) => /\((idle|program|garbage collector)\)/u.test(x.fn)).map((x) => `${x.fn.trim()} ${(x.share * 100).toFixed(1)}%`).join(', ');
    process.stdout.write(`\n${f} (${((win[1]! - win[0]!) / 1e6).toFixed(1)} s of the stream; ${idle}):\n`);
    for (const x of top.slice(0, 18)) process.stdout.write(`  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.fn}\n`);
  }
}
process.exit(0);

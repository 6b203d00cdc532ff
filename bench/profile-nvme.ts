// Profile (not a benchmark figure): the 4 KiB qd32 path on one transport, with an inspector CPU profile of the host
// thread (driver + root complex) and of the card (worker thread or process). Writes .cpuprofile files to
// bench/results/profiles/ and prints the top self-time functions of each side.
// Usage: npx tsx bench/profile-nvme.ts <shm|socket> [randread|randwrite] [file|mem] [seconds]
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIo, startRig, type Transport } from './lib/nvme-rig.ts';
import { Profiler, topSelf } from './lib/profile.ts';

const transport = (process.argv[2] ?? 'shm') as Transport;
const rw = (process.argv[3] ?? 'randread') as 'randread' | 'randwrite';
const backend = (process.argv[4] ?? 'file') as 'file' | 'mem';
const ms = Number(process.argv[5] ?? 3) * 1000;
const out = new URL('./results/profiles/', import.meta.url).pathname;
await mkdir(out, { recursive: true });
const dir = await mkdtemp(join(tmpdir(), 'nvme-prof-'));
const rig = await startRig({ transport, backend, path: join(dir, 'vol.img'), sizeBytes: 64 << 20, dir });
try {
  await runIo(rig, { rw, bs: 4096, qd: 32, ms: 1000, workingSet: 64 << 20 }); // warm-up
  const tag = `${transport}-${rw}-${backend}-qd32`;
  const host = new Profiler();
  await host.start();
  await rig.profileStart();
  const r = await runIo(rig, { rw, bs: 4096, qd: 32, ms, workingSet: 64 << 20 });
  const cardTop = await rig.profileStop(join(out, `${tag}-card.cpuprofile`));
  const hostTop = topSelf(await host.stop(join(out, `${tag}-host.cpuprofile`)), 30);
  const fmt = (t: { fn: string; share: number }[]): string => t.map((x) => `  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.fn}`).join('\n');
  process.stdout.write(`${tag}: ${Math.round(r.iops)} IOPS (profiled) p50 ${r.p50us.toFixed(0)} µs p99 ${r.p99us.toFixed(0)} µs\n`);
  process.stdout.write(`host thread, self time:\n${fmt(hostTop)}\ncard, self time:\n${fmt(cardTop)}\n`);
} finally {
  await rig.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);

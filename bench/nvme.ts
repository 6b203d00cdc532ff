// NVMe figures (issue 8 §1, §2): the card's real NVMe function driven through the real link by the guest NVMe driver
// (bench/lib/nvme-rig.ts) on both transports — 4 KiB random read/write at qd 1 and 32 (IOPS, p50/p99), 128 KiB
// sequential read/write (GiB/s and card CPU per GiB/s), the guest shell's fio, and fio on the same backing file.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filledVolume, runIo, startRig, type Rig, type Transport } from './lib/nvme-rig.ts';
import { fromRuns, repeat, type BenchContext, type BenchRecord } from './lib/record.ts';
import type { Limits } from './limits.ts';

const VOLUME = 128 << 20;
const WORKING_SET = 64 << 20;
const GiB = 1024 ** 3;

interface FioOut { iops: number; p50us: number; p99us: number; bw: number }

export function hostFio(args: string[], ms: number): Promise<FioOut | undefined> {
  return new Promise((resolve) => {
    execFile('fio', [...args, `--runtime=${Math.max(1, Math.round(ms / 1000))}`, '--time_based', '--output-format=json'],
      { timeout: ms + 30_000, killSignal: 'SIGKILL' }, (err, stdout) => {
        if (err !== null) { resolve(undefined); return; }
        try {
          const job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Record<string, { iops: number; bw_bytes: number; clat_ns: { percentile?: Record<string, number> } }>[] }).jobs[0];
          const side = job !== undefined && (job.read?.iops ?? 0) > 0 ? job.read : job?.write;
          const p = side?.clat_ns.percentile ?? {};
          resolve({ iops: side?.iops ?? 0, bw: side?.bw_bytes ?? 0, p50us: (p['50.000000'] ?? 0) / 1000, p99us: (p['99.000000'] ?? 0) / 1000 });
        } catch { resolve(undefined); }
      });
  });
}

export const haveFio = (): Promise<boolean> => new Promise((r) => execFile('fio', ['--version'], (e) => r(e === null)));

/** The guest shell's fio (what a user at the console runs); parses its summary line. */
async function guestFio(rig: Rig, rw: string, bs: string, qd: number, ms: number): Promise<{ iops: number; p50us: number; p99us: number }> {
  const r = await rig.kernel.exec(`fio --name=b --filename=/dev/nvme0n1 --rw=${rw} --bs=${bs} --iodepth=${qd} --size=${WORKING_SET} --runtime=${ms}ms --time_based --direct=1`);
  const m = /iops=(\d+).*lat_p50=(\d+)us.*lat_p99=(\d+)us/u.exec(r.output);
  if (r.code !== 0 || m === null) throw new Error(`guest fio failed: ${r.output.slice(-300)}`);
  return { iops: Number(m[1]), p50us: Number(m[2]), p99us: Number(m[3]) };
}

export async function runNvme(ctx: BenchContext, limits: Limits): Promise<BenchRecord[]> {
  const recs: BenchRecord[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'bench-nvme-'));
  const file = join(dir, 'vol.img');
  try {
    // A filled backing file (no holes), shared by both transports and by host fio.
    await filledVolume(file, VOLUME);

    const ms = ctx.runMs;
    for (const transport of ['shm', 'socket'] as const satisfies readonly Transport[]) {
      ctx.progress(`nvme ${transport}: starting card and guest driver`);
      const rig = await startRig({ transport, backend: 'file', path: file, sizeBytes: VOLUME, dir });
      try {
        const limit4k = transport === 'shm'
          ? { name: 'limit.shm-ring.4KiB-copy.qd32', value: limits.ringCopyQd32 }
          : { name: 'limit.unix-socket.4KiB.qd32', value: limits.unix4kQd32 };
        for (const rw of ['randread', 'randwrite'] as const) {
          for (const qd of [1, 32]) {
            const runs = await repeat(ctx, `nvme ${transport} 4k ${rw} qd${qd}`, () => runIo(rig, { rw, bs: 4096, qd, ms, workingSet: WORKING_SET }));
            const base = `nvme.4k.${rw}.qd${qd}`;
            const o = { transport, mode: 'offload' } as const;
            const limit = qd === 32 ? limit4k : transport === 'shm' ? { name: 'limit.shm-ring.4KiB-copy.qd1', value: limits.ringCopyQd1 } : { name: 'limit.unix-socket.64B.qd1', value: limits.unix64Qd1 };
            recs.push(fromRuns(`${base}.iops`, 'IOPS', runs.map((r) => r.iops), { ...o, limit, note: 'host-side loop through the guest NVMe driver, file backend' }));
            recs.push(fromRuns(`${base}.p50`, 'µs', runs.map((r) => r.p50us), o));
            recs.push(fromRuns(`${base}.p99`, 'µs', runs.map((r) => r.p99us), o));
          }
        }
        for (const rw of ['read', 'write'] as const) {
          const runs = await repeat(ctx, `nvme ${transport} 128k ${rw}`, async () => {
            const c0 = await rig.cardCpu();
            const r = await runIo(rig, { rw, bs: 128 << 10, qd: 8, ms, workingSet: VOLUME });
            const c1 = await rig.cardCpu();
            const cores = (transport === 'shm' ? c1.threadUs - c0.threadUs : c1.processUs - c0.processUs) / 1e6 / r.seconds;
            return { gibs: r.bytesPerSec / GiB, cores };
          });
          const gibs = runs.map((r) => r.gibs);
          recs.push(fromRuns(`nvme.128k.seq${rw}.throughput`, 'GiB/s', gibs, {
            transport, mode: 'offload', limit: transport === 'shm' ? { name: 'limit.memcpy.128KiB', value: limits.memcpy128kGBps * 1e9 / GiB } : { name: 'limit.unix-socket.4KiB.qd32', value: limits.unix4kQd32 * 4096 / GiB },
            note: 'qd 8',
          }));
          recs.push(fromRuns(`nvme.128k.seq${rw}.card-cpu-per-GiBps`, 'cores per GiB/s', runs.map((r) => (r.gibs > 0 ? r.cores / r.gibs : NaN)), {
            transport, mode: 'offload',
            note: transport === 'shm' ? 'card worker thread CPU (/proc/thread-self), excludes libuv pool threads' : 'card process CPU (process.cpuUsage)',
          }));
        }
        for (const rw of ['randread', 'randwrite'] as const) {
          const runs = await repeat(ctx, `guest fio ${transport} ${rw} qd32`, () => guestFio(rig, rw, '4k', 32, ms));
          recs.push(fromRuns(`guest-fio.4k.${rw}.qd32.iops`, 'IOPS', runs.map((r) => r.iops), { transport, mode: 'offload', limit: limit4k, note: 'the guest shell\'s fio --direct=1' }));
          recs.push(fromRuns(`guest-fio.4k.${rw}.qd32.p50`, 'µs', runs.map((r) => r.p50us), { transport, mode: 'offload' }));
        }
      } finally {
        await rig.close();
      }
    }
    if (await haveFio()) {
      ctx.progress('fio on the backing file');
      const common = [`--filename=${file}`, `--size=${WORKING_SET}`, '--name=limit'];
      for (const rw of ['randread', 'randwrite'] as const) {
        const fioRepeat = ctx.quick ? async <T>(_w: string, fn: () => Promise<T>): Promise<T[]> => [await fn()] : <T>(w: string, fn: () => Promise<T>) => repeat(ctx, w, fn);
        const uring = await fioRepeat(`fio io_uring ${rw} qd32`, async () => (await hostFio([...common, '--bs=4k', '--ioengine=io_uring', '--iodepth=32', `--rw=${rw}`], ms))?.iops ?? NaN);
        recs.push(fromRuns(`limit.fio.file.4k.${rw}.qd32`, 'IOPS', uring, { transport: 'none', mode: 'raw', note: 'host fio, io_uring, buffered, the same backing file' }));
        const psync = await fioRepeat(`fio psync ${rw} qd1`, async () => (await hostFio([...common, '--bs=4k', '--ioengine=psync', `--rw=${rw}`], ms))?.iops ?? NaN);
        recs.push(fromRuns(`limit.fio.file.4k.${rw}.qd1`, 'IOPS', psync, { transport: 'none', mode: 'raw', note: 'host fio, psync, buffered, the same backing file' }));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // Ratios of the NVMe figures to fio on the same file, where both exist.
  for (const r of recs) {
    const m = /^nvme\.4k\.(randread|randwrite)\.qd(1|32)\.iops$/u.exec(r.name);
    if (m === null) continue;
    const f = recs.find((x) => x.name === `limit.fio.file.4k.${m[1]}.qd${m[2]}`);
    if (f?.value != null && r.value != null) r.note = `${r.note ?? ''}; ${(r.value / f.value).toFixed(2)}× fio on the same file (${f.value} IOPS)`;
  }
  return recs;
}

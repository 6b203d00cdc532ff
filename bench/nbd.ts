// Benchmark (not a test): 4 KiB random read/write IOPS at queue depth 1 and 32 through NbdClient against the built-in
// block store on a temp file; then fio on the same file (psync, io_uring) and fio's nbd engine against the store,
// when fio is installed. Prints one JSON document. Usage: npx tsx bench/nbd.ts [seconds-per-run=2]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { startBlockStore } from '../src/blockstore/server.ts';
import { NbdClient } from '../src/nitro-card/ebs/nbd-client.ts';

const BLOCK = 4096;
const WORKING_SET = 64 << 20;
const seconds = Number(process.argv[2] ?? 2);

interface Result { iops: number; p50us: number; p99us: number; ops: number }

async function run(c: NbdClient, rw: 'randread' | 'randwrite', qd: number): Promise<Result> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const blocks = WORKING_SET / BLOCK;
  let seed = 12345;
  const next = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed % blocks) * BLOCK; };
  const worker = async (): Promise<void> => {
    const buf = new Uint8Array(BLOCK);
    if (rw === 'randwrite') randomFillSync(buf);
    while (performance.now() < end) {
      const t0 = performance.now();
      if (rw === 'randread') await c.read(next(), buf);
      else await c.write(next(), buf, false);
      lat.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: qd }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0) * 1000);
  return { iops: Math.round(lat.length / elapsed), p50us: pct(0.5), p99us: pct(0.99), ops: lat.length };
}

function fio(args: string[]): Promise<Result | { error: string }> {
  return new Promise((resolve) => {
    execFile('fio', [...args, '--output-format=json'], { timeout: (seconds + 30) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err !== null) { resolve({ error: (stderr || err.message).trim().split('\n').slice(-1)[0] ?? 'fio failed' }); return; }
      try {
        const json = stdout.slice(stdout.indexOf('{')); // the nbd engine prints a line before the JSON
        const job = (JSON.parse(json) as { jobs: Record<string, { iops: number; clat_ns: { percentile?: Record<string, number> } }>[] }).jobs[0];
        const side = job !== undefined && (job.read?.iops ?? 0) > 0 ? job.read : job?.write;
        const p = side?.clat_ns.percentile ?? {};
        resolve({ iops: Math.round(side?.iops ?? 0), p50us: Math.round((p['50.000000'] ?? 0) / 1000), p99us: Math.round((p['99.000000'] ?? 0) / 1000), ops: 0 });
      } catch (e) {
        resolve({ error: `unparsable fio output: ${(e as Error).message}` });
      }
    });
  });
}

const haveFio = await new Promise<boolean>((r) => execFile('fio', ['--version'], (e) => r(e === null)));

const dir = await mkdtemp(join(tmpdir(), 'nbd-bench-'));
const store = await startBlockStore({ dir });
try {
  await store.createExport('vol-bench', WORKING_SET);
  const c = await NbdClient.connect(store.url('vol-bench'), { maxInFlight: 64 });
  const fill = new Uint8Array(1 << 20);
  randomFillSync(fill);
  for (let off = 0; off < WORKING_SET; off += fill.length) await c.write(off, fill, false); // no holes: real reads
  await c.flush();
  const client: Record<string, Result> = {};
  for (const rw of ['randread', 'randwrite'] as const) for (const qd of [1, 32]) client[`${rw}-qd${qd}`] = await run(c, rw, qd);
  await c.close();

  const fioResults: Record<string, Result | { error: string }> = {};
  if (haveFio) {
    const file = join(dir, 'vol-bench.img');
    const common = [`--runtime=${seconds}`, '--time_based', `--size=${WORKING_SET}`, `--bs=${BLOCK}`, '--name=bench'];
    for (const rw of ['randread', 'randwrite']) {
      fioResults[`file-psync-${rw}-qd1`] = await fio([...common, `--filename=${file}`, '--ioengine=psync', `--rw=${rw}`]);
      for (const qd of [1, 32]) {
        fioResults[`file-io_uring-${rw}-qd${qd}`] = await fio([...common, `--filename=${file}`, '--ioengine=io_uring', `--iodepth=${qd}`, `--rw=${rw}`]);
        fioResults[`nbd-engine-${rw}-qd${qd}`] = await fio([...common, '--ioengine=nbd', `--uri=${store.url('vol-bench')}`, `--iodepth=${qd}`, `--rw=${rw}`]);
      }
    }
  }
  process.stdout.write(JSON.stringify({
    bench: 'nbd', blockBytes: BLOCK, workingSetBytes: WORKING_SET, secondsPerRun: seconds, node: process.version,
    nbdClientVsBlockStore: client,
    fio: haveFio ? fioResults : 'fio not installed',
  }, null, 2) + '\n');
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}

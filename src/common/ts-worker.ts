// Start a worker thread whose entry is a .ts module. On Node 20 `execArgv: ['--import', 'tsx']` alone does not apply
// tsx's loader to a worker's entry ("Unknown file extension .ts"), so a tiny eval'd bootstrap registers tsx's ESM
// hooks in the worker first and then imports the entry. workerData and transferList pass through unchanged.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  const boot = `${profileBoot()}import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...opts, eval: true, execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])] });
}

/**
 * NITROLAB_CPU_PROF=<dir> (bench/profile-net.ts): each worker takes an inspector CPU profile (the `node --cpu-prof`
 * format) for NITROLAB_CPU_PROF_MS (default 20 s) and writes it to <dir>. `--cpu-prof` itself cannot reach workers
 * that are terminated rather than exiting, which is how pCPU workers end.
 */
function profileBoot(): string {
  const dir = process.env.NITROLAB_CPU_PROF;
  if (!dir) return '';
  const ms = Number(process.env.NITROLAB_CPU_PROF_MS ?? 20_000);
  return `void (async () => { const { Session } = await import('node:inspector/promises'); const s = new Session(); s.connect();
await s.post('Profiler.enable'); await s.post('Profiler.setSamplingInterval', { interval: 200 }); await s.post('Profiler.start');
setTimeout(async () => { const { profile } = await s.post('Profiler.stop'); const { threadId } = await import('node:worker_threads');
(await import('node:fs')).writeFileSync(${JSON.stringify(dir)} + '/worker-' + process.pid + '-' + threadId + '.cpuprofile', JSON.stringify(profile)); }, ${ms}).unref(); })();\n`;
}

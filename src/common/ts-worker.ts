// Start a worker thread whose entry is a .ts module. On Node 20 `execArgv: ['--import', 'tsx']` alone does not apply
// tsx's loader to a worker's entry ("Unknown file extension .ts"), so a tiny eval'd bootstrap registers tsx's ESM
// hooks in the worker first and then imports the entry. workerData and transferList pass through unchanged.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...opts, eval: true, execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])] });
}

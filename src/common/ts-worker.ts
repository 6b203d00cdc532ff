// Start a worker thread running a TypeScript module, however the parent was started (tsx --import, tsx's register API
// or the tap loader): the bootstrap registers the loader inside the worker first.
import { Worker, type WorkerOptions } from 'node:worker_threads';

const BOOT = new URL('../../bin/ts-worker.mjs', import.meta.url);

export function tsWorker(entry: URL, opts: WorkerOptions & { workerData?: Record<string, unknown> } = {}): Worker {
  return new Worker(BOOT, { ...opts, workerData: { ...(opts.workerData ?? {}), __entry: entry.href } });
}

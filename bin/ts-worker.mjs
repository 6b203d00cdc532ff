// Worker-thread bootstrap: registers the TypeScript loader (tsx) inside the worker, then loads the real entry module.
// Needed because a loader registered with tsx's API in the main thread does not reach worker threads on Node 20.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
register();
await import(workerData.__entry);

// The card end of the NVMe benchmark rig: one EBS-personality NVMe function (the production createNvmeFunction) on a
// CardPort, served over shm rings (this file runs as a worker thread) or a Unix socket (a child process).
// Answers {t:'cpu'} with its CPU time and {t:'profile-start'|'profile-stop'} around a profiled run.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { createRootLogger } from '../../src/common/log.ts';
import { CardPort } from '../../src/devices/pcie/link/card-port.ts';
import { listenLink } from '../../src/devices/pcie/link/socket-transport.ts';
import { openShmLink, type ShmLinkDesc } from '../../src/devices/pcie/link/shm-transport.ts';
import { CardMetrics } from '../../src/nitro-card/metrics.ts';
import { createNvmeFunction } from '../../src/nitro-card/functions.ts';
import { MemBackend } from './mem-backend.ts';
import { NbdClient } from '../../src/nitro-card/ebs/nbd-client.ts';
import { Profiler, topSelf } from './profile.ts';

export interface CardRigConfig {
  fn: number;
  backend: 'file' | 'mem' | 'nbd';
  path: string;
  /** backend 'nbd': the block-store export the card connects to (the EBS path: guest → card → NBD → file). */
  nbdUrl?: string;
  sizeBytes: number;
  /** Socket only: the Unix socket path to listen on. */
  listen?: string;
  /** shm only: ShmLinkOptions.pollMs. */
  pollMs?: number;
}
export type CardMsg = { t: 'cpu'; id: number } | { t: 'profile-start'; id: number } | { t: 'profile-stop'; id: number; path: string };

const inWorker = parentPort !== null;
const cfg: CardRigConfig = inWorker ? (workerData as { cfg: CardRigConfig }).cfg : JSON.parse(process.argv[2] ?? '{}') as CardRigConfig;
const send = (m: unknown): void => { if (inWorker) parentPort?.postMessage(m); else process.send?.(m); };

/** utime+stime of this thread in µs (Linux /proc/thread-self; 10 ms ticks). */
function threadCpuUs(): number {
  const f = readFileSync('/proc/thread-self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10_000;
}

const log = createRootLogger({ name: 'bench-card', level: 'warn', pretty: false });
const metrics = new CardMetrics();
const port = new CardPort({ log, metrics: metrics.scoped('link') });
await createNvmeFunction(port, {
  fn: cfg.fn, personality: 'ebs', volumeId: 'vol-0bench0000000000', deviceName: 'sdf', sizeBytes: cfg.sizeBytes, path: cfg.path,
  log, metrics,
  ...(cfg.backend === 'mem' ? { backend: new MemBackend(cfg.sizeBytes) } : {}),
  ...(cfg.backend === 'nbd' ? { backend: await NbdClient.connect(cfg.nbdUrl ?? '') } : {}),
});
if (inWorker) port.attach(openShmLink((workerData as { desc: ShmLinkDesc }).desc, { name: 'card-shm', ...(cfg.pollMs !== undefined ? { pollMs: cfg.pollMs } : {}) }));
else await listenLink(cfg.listen as string, (peer) => port.attach(peer));

const profiler = new Profiler();
const onMsg = (m: CardMsg): void => {
  void (async () => {
    switch (m.t) {
      case 'cpu': {
        const p = process.cpuUsage();
        send({ id: m.id, threadUs: threadCpuUs(), processUs: p.user + p.system });
        return;
      }
      case 'profile-start': await profiler.start(); send({ id: m.id }); return;
      case 'profile-stop': send({ id: m.id, top: topSelf(await profiler.stop(m.path), 30) }); return;
    }
  })();
};
if (inWorker) parentPort?.on('message', onMsg);
else process.on('message', onMsg);
send({ t: 'ready' });

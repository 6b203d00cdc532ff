// The card as a worker thread inside its host process (link shm): the same card service, reached over
// shared-memory rings instead of a socket. The first ring pair is the hypervisor's management channel, the others
// belong to the pCPU threads.
import { parentPort, workerData } from 'node:worker_threads';
import { createRootLogger, type LogLevel } from '../common/log.ts';
import { openShmLink, type ShmLinkDesc } from '../devices/pcie/link/shm-transport.ts';
import { cardLinkAccount, startCard } from './start.ts';
import { cardCapacity, type CardCapacity } from './capacity.ts';
import { currentTid } from '../telemetry/thread-cpu.ts';

if (!parentPort) throw new Error('card-worker must run as a worker thread');
const wd = workerData as { hostId: string; dataDir: string; mode: 'offload' | 'legacy'; level: LogLevel; links: ShmLinkDesc[]; guestMemMiB: number; capacity?: Partial<CardCapacity>; blockstore?: string; shutdownGraceMs?: number };
const log = createRootLogger({ name: `card ${wd.hostId}`, level: wd.level, pretty: false });
const running = await startCard({
  hostId: wd.hostId,
  dataDir: wd.dataDir,
  mode: wd.mode,
  link: 'shm',
  mgmtHost: '127.0.0.1',
  mgmtPort: 0,
  guestMemBytes: wd.guestMemMiB * 1024 * 1024,
  capacity: cardCapacity(wd.capacity),
  blockstore: wd.blockstore,
  shutdownGraceMs: wd.shutdownGraceMs,
  log,
});
for (const desc of wd.links) running.attach(openShmLink(desc, { name: 'card-shm', account: cardLinkAccount }));
// tid: the host process attributes this thread's CPU to the card, not to itself (src/hypervisor/telemetry.ts).
parentPort.postMessage({ type: 'ready', mgmtUrl: running.mgmtUrl, tokenPath: running.tokenPath, tid: currentTid() });

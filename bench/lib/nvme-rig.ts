// The NVMe benchmark rig: the card's real NVMe function (bench/lib/nvme-card.ts: a worker thread over shm rings, or a
// child process over a Unix socket) and, in this thread, the host end as a pCPU worker has it — RootComplex +
// VmPlatform + the guest kernel's NVMe driver — so I/O goes driver → doorbell → link → controller → DMA → MSI-X.
import { fork, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { startTsWorker } from '../../src/common/ts-worker.ts';
import { RootComplex } from '../../src/devices/pcie/link/root-complex.ts';
import { connectLink } from '../../src/devices/pcie/link/socket-transport.ts';
import { createShmLinkPair, openShmLink, shmTransferList } from '../../src/devices/pcie/link/shm-transport.ts';
import type { LinkPeer } from '../../src/devices/pcie/link/peer.ts';
import { VmPlatform } from '../../src/host/vm-platform.ts';
import { bootGuest, type GuestKernel } from '../../src/host/guest/kernel.ts';
import type { BlockDevice } from '../../src/host/guest/block.ts';
import type { CardRigConfig } from './nvme-card.ts';
import { LatencyLog, percentile } from '../../src/host/guest/commands/fio-job.ts';

/** A backing file of `bytes` filled with random data (no holes, so reads hit real blocks), for the NVMe benchmarks. */
export async function filledVolume(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const fill = new Uint8Array(1 << 20);
    for (let off = 0; off < bytes; off += fill.length) { randomFillSync(fill); await fh.write(fill, 0, fill.length, off); }
  } finally {
    await fh.close();
  }
}

export type Transport = 'shm' | 'socket';
const FN = 1;
const SLOT = 3;
const CARD_ENTRY = new URL('./nvme-card.ts', import.meta.url);

export interface RigOptions {
  transport: Transport;
  backend: 'file' | 'mem' | 'nbd';
  path: string;
  nbdUrl?: string;
  sizeBytes: number;
  dir: string;
  guestMemBytes?: number;
  /** shm only: the link's poll window (ShmLinkOptions.pollMs) on both ends; default the transport's. */
  pollMs?: number;
}

export interface Rig {
  readonly kernel: GuestKernel;
  readonly ns: BlockDevice;
  readonly rc: RootComplex;
  /** Card CPU time so far (µs): the card thread, and the whole card process (socket) / host+card process (shm). */
  cardCpu(): Promise<{ threadUs: number; processUs: number }>;
  profileStart(): Promise<void>;
  profileStop(path: string): Promise<{ fn: string; share: number }[]>;
  close(): Promise<void>;
}

export async function startRig(o: RigOptions): Promise<Rig> {
  const cfg: CardRigConfig = {
    fn: FN, backend: o.backend, path: o.path, sizeBytes: o.sizeBytes,
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}), ...(o.nbdUrl !== undefined ? { nbdUrl: o.nbdUrl } : {}),
  };
  let peer: LinkPeer;
  let ask: (m: Record<string, unknown>) => Promise<Record<string, unknown>>;
  let stopCard: () => Promise<void>;
  let nextId = 1;
  const waiters = new Map<number, (m: Record<string, unknown>) => void>();
  const onReply = (m: Record<string, unknown>): void => { const w = waiters.get(m.id as number); if (w) { waiters.delete(m.id as number); w(m); } };
  let ready: Promise<void>;
  if (o.transport === 'shm') {
    const pair = createShmLinkPair();
    const w: Worker = startTsWorker(CARD_ENTRY, { workerData: { cfg, desc: pair.card }, transferList: shmTransferList(pair.card) });
    ready = new Promise((res, rej) => { w.once('error', rej); w.on('message', (m: Record<string, unknown>) => (m.t === 'ready' ? res() : onReply(m))); });
    ask = (m) => new Promise((res) => { const id = nextId++; waiters.set(id, res); w.postMessage({ ...m, id }); });
    await ready;
    peer = openShmLink(pair.host, { name: 'bench-host', ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}) });
    stopCard = async () => { await w.terminate(); };
  } else {
    cfg.listen = join(o.dir, `card-${process.pid}-${Date.now()}.sock`);
    const child: ChildProcess = fork(CARD_ENTRY.pathname, [JSON.stringify(cfg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    ready = new Promise((res, rej) => {
      child.once('exit', (c) => rej(new Error(`bench card exited ${c}`)));
      child.on('message', (m: Record<string, unknown>) => (m.t === 'ready' ? res() : onReply(m)));
    });
    ask = (m) => new Promise((res) => { const id = nextId++; waiters.set(id, res); child.send({ ...m, id }); });
    await ready;
    peer = await connectLink(cfg.listen, { name: 'bench-host' });
    stopCard = async () => {
      child.removeAllListeners('exit');
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    };
  }
  const rc = new RootComplex(peer);
  await rc.negotiate();
  const memBytes = o.guestMemBytes ?? 32 << 20;
  const platform = new VmPlatform('i-bench', new SharedArrayBuffer(memBytes), '', 'bench', rc, () => {}, () => {});
  rc.onMsi = (fn, address, data) => { if (fn === FN) platform.deliverMsi(address, data); };
  await rc.bind(FN, platform.mem);
  await rc.map(FN, 0 as never, 0 as never, memBytes, true);
  platform.assign(FN, SLOT);
  const kernel = await bootGuest(platform);
  await kernel.userDataDone;
  const ns = kernel.blocks.get('nvme0n1');
  if (ns === undefined) throw new Error('the guest found no nvme0n1');
  return {
    kernel, ns, rc,
    async cardCpu() { const r = await ask({ t: 'cpu' }); return { threadUs: r.threadUs as number, processUs: r.processUs as number }; },
    async profileStart() { await ask({ t: 'profile-start' }); },
    async profileStop(path) { return (await ask({ t: 'profile-stop', path })).top as { fn: string; share: number }[]; },
    async close() {
      platform.halt();
      rc.close();
      await stopCard();
    },
  };
}

export interface IoSpec { rw: 'randread' | 'randwrite' | 'read' | 'write'; bs: number; qd: number; ms: number; workingSet: number }
export interface IoResult { iops: number; bytesPerSec: number; p50us: number; p99us: number; ops: number; seconds: number }

/** A host-side driver loop: `qd` submitters, each with its own DMA buffer in guest RAM, through the block device. */
export async function runIo(rig: Rig, s: IoSpec): Promise<IoResult> {
  const { kernel, ns } = rig;
  const blocks = s.bs / ns.lbaSize;
  const slots = Math.floor(Math.min(s.workingSet, ns.sizeBytes) / s.bs);
  const lat = new LatencyLog();
  let seed = 0x2545f491;
  const rand = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % slots; };
  let seqNext = 0;
  const write = s.rw === 'randwrite' || s.rw === 'write';
  const random = s.rw.startsWith('rand');
  const t0 = performance.now();
  const end = t0 + s.ms;
  const worker = async (): Promise<void> => {
    const buf = kernel.pages.allocBytes(s.bs);
    const data = buf.bytes.subarray(0, s.bs);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    try {
      while (performance.now() < end) {
        const slot = random ? rand() : (seqNext++ % slots);
        const a = performance.now();
        if (write) await ns.write(slot * blocks, blocks, data);
        else await ns.read(slot * blocks, blocks, data);
        lat.add((performance.now() - a) * 1e3);
      }
    } finally {
      kernel.pages.release(buf);
    }
  };
  await Promise.all(Array.from({ length: s.qd }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const sorted = lat.sorted();
  return {
    iops: lat.count / seconds, bytesPerSec: (lat.count * s.bs) / seconds, ops: lat.count, seconds,
    p50us: percentile(sorted, 50), p99us: percentile(sorted, 99),
  };
}

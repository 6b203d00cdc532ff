// Physical limits of this machine, measured in the same run as the figures compared with them (issue 8,
// ../shared/reference/limits.md): a raw SharedArrayBuffer ring between two threads (with and without a 4 KiB copy per
// op), raw Unix-socket frames between two processes (64 B and 4 KiB, batched 32), raw UDP loopback, and memcpy.
import { Worker } from 'node:worker_threads';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRuns, repeat, type BenchContext, type BenchRecord } from './lib/record.ts';

export interface Limits {
  /** ops/s through a raw SAB ring, qd32, with a 4 KiB copy per op (the shm link's data path). */
  ringCopyQd32: number;
  ringQd32: number;
  ringCopyQd1: number;
  /** round trips/s at qd1 (spin-then-wait). */
  ringQd1: number;
  /** 4 KiB frames/s through a raw Unix socket, batched 32 per write (the socket link's data path). */
  unix4kQd32: number;
  unix64Qd32: number;
  unix64Qd1: number;
  udp64Pps: number;
  udp1500Gbps: number;
  memcpyGBps: number;
  memcpy128kGBps: number;
}

// ---- SharedArrayBuffer ring: fixed 64-byte slots, a request ring and a response ring ------------------------------
const SLOTS = 256;
const RING_WORKER = `
const { workerData } = require('node:worker_threads');
const { ctrl, src, dst } = workerData;
const c = new Int32Array(ctrl); const s = new Uint8Array(src); const d = new Uint8Array(dst);
// c[0] req tail, c[16] req head, c[32] resp tail, c[48] resp head, c[64] stop, c[80] copy flag
const SLOTS = ${SLOTS}; let head = 0; let rtail = 0; let off = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(c, 0) === head) {
    if (Atomics.load(c, 64)) process.exit(0);
    if (++spins > 2000) { Atomics.wait(c, 0, head, 5); spins = 0; }
  }
  const tail = Atomics.load(c, 0);
  while (head !== tail) {
    if (c[80]) { off = (off + 69632) % (s.length - 4096); d.set(s.subarray(off, off + 4096), (head % SLOTS) * 4096); }
    head = (head + 1) | 0; rtail = (rtail + 1) | 0;
  }
  Atomics.store(c, 16, head); Atomics.store(c, 32, rtail); Atomics.notify(c, 32);
}`;

async function ringOps(qd: number, copy: boolean, ms: number): Promise<number> {
  const ctrl = new SharedArrayBuffer(128 * 4);
  const src = new SharedArrayBuffer(64 << 20);
  const dst = new SharedArrayBuffer(SLOTS * 4096);
  const c = new Int32Array(ctrl);
  c[80] = copy ? 1 : 0;
  const w = new Worker(RING_WORKER, { eval: true, workerData: { ctrl, src, dst } });
  await new Promise((r) => w.once('online', r));
  let tail = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      while (((tail - done) | 0) < qd) tail = (tail + 1) | 0;
      Atomics.store(c, 0, tail);
      Atomics.notify(c, 0);
      let spins = 0;
      let r = Atomics.load(c, 32);
      while (r === done) {
        if (++spins > 2000) { Atomics.wait(c, 32, done, 5); spins = 0; }
        r = Atomics.load(c, 32);
      }
      done = r;
    }
  }
  const ops = done / ((performance.now() - t0) / 1000);
  Atomics.store(c, 64, 1);
  Atomics.notify(c, 0);
  await w.terminate();
  return ops;
}

// ---- Unix socket and UDP echo peers in a child process --------------------------------------------------------------
const ECHO = `
const net = require('node:net'); const dgram = require('node:dgram');
const path = process.argv[2];
const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
srv.listen(path, () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(m, r.port, r.address));
  u.bind(0, '127.0.0.1', () => process.send({ udpPort: u.address().port }));
});`;

async function startEcho(dir: string): Promise<{ child: ChildProcess; path: string; udpPort: number }> {
  const file = join(dir, 'echo.cjs');
  await writeFile(file, ECHO);
  const path = join(dir, 'echo.sock');
  const child = fork(file, [path], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const udpPort = await new Promise<number>((r) => child.once('message', (m: { udpPort: number }) => r(m.udpPort)));
  return { child, path, udpPort };
}

/** Frames/s: `qd` frames of `bytes` written in one write, then wait for all of them to come back. */
async function unixFrames(path: string, bytes: number, qd: number, ms: number): Promise<number> {
  const s = net.createConnection(path);
  await new Promise((r) => s.once('connect', r));
  s.setNoDelay(true);
  const batch = Buffer.alloc(bytes * qd, 7);
  let frames = 0;
  let pending = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await new Promise<void>((resolve) => {
    const send = (): void => {
      if (performance.now() >= end) { resolve(); return; }
      pending = batch.length;
      s.write(batch);
    };
    s.on('data', (d: Buffer) => {
      pending -= d.length;
      if (pending <= 0) { frames += qd; send(); }
    });
    send();
  });
  const rate = frames / ((performance.now() - t0) / 1000);
  s.destroy();
  return rate;
}

/** Datagrams/s echoed with `window` in flight. */
async function udpPps(port: number, bytes: number, window: number, ms: number): Promise<number> {
  const u = dgram.createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  const msg = Buffer.alloc(bytes, 1);
  let got = 0;
  let inFlight = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await new Promise<void>((resolve) => {
    const pump = (): void => { while (inFlight < window) { inFlight++; u.send(msg, port, '127.0.0.1'); } };
    u.on('message', () => {
      got++;
      inFlight--;
      if (performance.now() >= end) { if (inFlight <= 0) resolve(); return; }
      pump();
    });
    // A lost datagram must not stall the window: top it up every 10 ms.
    const t = setInterval(() => { if (performance.now() >= end) { clearInterval(t); resolve(); } else { inFlight = Math.min(inFlight, window - 1); pump(); } }, 10);
    pump();
  });
  const rate = got / ((performance.now() - t0) / 1000);
  u.close();
  return rate;
}

function memcpyGBps(ms: number, size = 4096): number {
  const src = new Uint8Array(64 << 20);
  const dst = new Uint8Array(size);
  for (let i = 0; i < src.length; i += 4096) src[i] = i & 0xff;
  let off = 0;
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      off = (off + 69632) % (src.length - size);
      dst.set(src.subarray(off, off + size));
    }
    n += 1000;
  }
  return (n * size) / ((performance.now() - t0) / 1000) / 1e9;
}

export async function runLimits(ctx: BenchContext): Promise<{ records: BenchRecord[]; limits: Limits }> {
  const ms = ctx.runMs;
  const recs: BenchRecord[] = [];
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  const add = (name: string, unit: string, xs: number[], transport: BenchRecord['transport'], note: string): number => {
    recs.push(fromRuns(name, unit, xs, { transport, mode: 'raw', note }));
    return med(xs);
  };
  ctx.progress('limits: SharedArrayBuffer ring');
  const ringQd1 = add('limit.shm-ring.64B.qd1', 'ops/s', await repeat(ctx, 'ring qd1', () => ringOps(1, false, ms)), 'shm', 'raw SAB ring between two threads, 64 B slots, spin then Atomics.wait, round trips/s');
  const ringQd32 = add('limit.shm-ring.64B.qd32', 'ops/s', await repeat(ctx, 'ring qd32', () => ringOps(32, false, ms)), 'shm', 'raw SAB ring, 32 in flight');
  const ringCopyQd32 = add('limit.shm-ring.4KiB-copy.qd32', 'ops/s', await repeat(ctx, 'ring+copy qd32', () => ringOps(32, true, ms)), 'shm', 'raw SAB ring, 32 in flight, one 4 KiB copy per op (source spread over 64 MiB)');
  const ringCopyQd1 = add('limit.shm-ring.4KiB-copy.qd1', 'ops/s', await repeat(ctx, 'ring+copy qd1', () => ringOps(1, true, ms)), 'shm', 'raw SAB ring, qd1, one 4 KiB copy per op');
  const dir = await mkdtemp(join(tmpdir(), 'bench-limits-'));
  const echo = await startEcho(dir);
  try {
    ctx.progress('limits: Unix socket, UDP');
    const unix64Qd1 = add('limit.unix-socket.64B.qd1', 'msg/s', await repeat(ctx, 'unix 64B qd1', () => unixFrames(echo.path, 64, 1, ms)), 'socket', 'raw Unix-socket echo between two processes, round trips/s');
    const unix64Qd32 = add('limit.unix-socket.64B.qd32', 'msg/s', await repeat(ctx, 'unix 64B qd32', () => unixFrames(echo.path, 64, 32, ms)), 'socket', '32 frames per write, echoed');
    const unix4kQd32 = add('limit.unix-socket.4KiB.qd32', 'msg/s', await repeat(ctx, 'unix 4K qd32', () => unixFrames(echo.path, 4096, 32, ms)), 'socket', '32 × 4 KiB per write, echoed');
    const udp64Pps = add('limit.udp-loopback.64B', 'pps', await repeat(ctx, 'udp 64B', () => udpPps(echo.udpPort, 64, 32, ms)), 'udp', 'raw UDP loopback echo between two processes, 32 in flight, datagrams/s each way');
    const udp1500 = await repeat(ctx, 'udp 1500B', () => udpPps(echo.udpPort, 1500, 32, ms));
    const udp1500Gbps = add('limit.udp-loopback.1500B', 'Gbit/s', udp1500.map((p) => (p * 1500 * 8) / 1e9), 'udp', 'raw UDP loopback echo, 1500 B, 32 in flight, one direction');
    const memcpy = add('limit.memcpy.4KiB', 'GB/s', await repeat(ctx, 'memcpy', async () => memcpyGBps(ms)), 'none', '4 KiB copies, source spread over 64 MiB');
    const memcpy128k = add('limit.memcpy.128KiB', 'GB/s', await repeat(ctx, 'memcpy 128K', async () => memcpyGBps(ms, 128 << 10)), 'none', '128 KiB copies, source spread over 64 MiB');
    return { records: recs, limits: { ringCopyQd32, ringQd32, ringCopyQd1, ringQd1, unix4kQd32, unix64Qd32, unix64Qd1, udp64Pps, udp1500Gbps, memcpyGBps: memcpy, memcpy128kGBps: memcpy128k } };
  } finally {
    echo.child.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

// Helpers for the conformance tests (not a test file): our real card as a process (socket link) or as a worker
// thread (shm link), each with its management API, and a runner that captures the suite's TAP instead of printing it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { Test } from 'tap';
import { startTsWorker } from '../../src/common/ts-worker.ts';
import { createShmLinkPair, shmTransferList, type ShmLinkDesc } from '../../src/devices/pcie/link/shm-transport.ts';
import { runSuite, type RunOptions, type RunResult } from '../../src/conformance/runner.ts';
import { readToken } from '../../src/conformance/session.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export function tmpDir(t: Test, prefix = 'nitrolab-conf-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CardProcess { linkPath: string; mgmtUrl: string; token: string }

/** `nitrolab card --listen <tmp>/link.sock` as a child process, stopped at teardown. */
export async function startCardProcess(t: Test): Promise<CardProcess> {
  const dir = tmpDir(t);
  const linkPath = path.join(dir, 'link.sock');
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'card', '--listen', linkPath, '--data-dir', path.join(dir, 'card'), '--mgmt-port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`card not ready in 60 s: ${stderr}`)), 60_000);
    proc.on('message', (m: Record<string, unknown>) => { if (m.type === 'ready') { clearTimeout(timer); resolve(m); } });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`card exited (${code}): ${stderr}`)); });
  });
  return { linkPath, mgmtUrl: String(ready.mgmtUrl), token: readToken(String(ready.tokenPath)) };
}

/** Our card in a worker thread over shm rings (as `nitrolab host --embedded-card` runs it); returns the host ends. */
export async function startShmCard(t: Test, pairs = 32): Promise<{ hostEnds: ShmLinkDesc[]; mgmtUrl: string; token: string; worker: Worker }> {
  const dir = tmpDir(t);
  const links = Array.from({ length: pairs }, () => createShmLinkPair());
  const cardEnds = links.map((p) => p.card);
  const worker = startTsWorker(new URL('../../src/nitro-card/card-worker.ts', import.meta.url), {
    workerData: { hostId: 'conf-shm', dataDir: path.join(dir, 'card'), mode: 'offload', level: 'warn', links: cardEnds, guestMemMiB: 4 },
    transferList: cardEnds.flatMap(shmTransferList),
    name: 'conformance-card',
  });
  t.teardown(() => worker.terminate());
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.once('message', (m: Record<string, unknown>) => resolve(m));
    worker.once('error', reject);
  });
  return { hostEnds: links.map((p) => p.host), mgmtUrl: String(ready.mgmtUrl), token: readToken(String(ready.tokenPath)), worker };
}

/** Run the suite capturing its TAP; the text is attached to the result. */
export async function runCaptured(o: Omit<RunOptions, 'write'>): Promise<RunResult & { tap: string }> {
  let tap = '';
  const r = await runSuite({ ...o, write: (s) => { tap += s; } });
  return { ...r, tap };
}

export function failedIds(r: RunResult, level?: 'M' | 'O'): string[] {
  return r.records.filter((x) => x.status === 'fail' && (level === undefined || x.level === level)).map((x) => x.id);
}

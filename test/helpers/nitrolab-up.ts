// Starts the real `nitrolab up` (control plane + card + host processes) on loopback in a temp data dir, for
// whole-system tests that talk to it as a user would: over REST.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../src/common/stop-child.ts';

const BIN = fileURLToPath(new URL('../../bin/nitrolab.js', import.meta.url));

export interface RunningNitrolab {
  url: string;
  dataDir: string;
  /** The admin API key this instance of `up` enforces (NITROLAB_API_KEY); `api()` sends it. */
  apiKey: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startNitrolab(args: string[] = [], timeoutMs = 60_000): Promise<RunningNitrolab> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nl-e2e-'));
  const apiKey = `nla_test_${randomBytes(12).toString('hex')}`;
  const proc = spawn(process.execPath, [BIN, 'up', '--port', '0', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NITROLAB_LOG_LEVEL: process.env.NITROLAB_LOG_LEVEL ?? 'info', NITROLAB_API_KEY: apiKey },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nitrolab up not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs);
    proc.on('message', (m: { type?: string; url?: string }) => {
      if (m.type === 'ready' && m.url) { clearTimeout(timer); resolve(m.url); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`nitrolab up exited with ${code}:\n${out}`)); });
  });
  API_KEYS.set(url, apiKey);
  return {
    url,
    dataDir,
    apiKey,
    proc,
    output: () => out,
    async stop() {
      await stopChild(proc, 10_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** API keys of the running `up`s by base URL, so `api()` authenticates without every test passing the key. */
const API_KEYS = new Map<string, string>();

/** The admin key `api()` sends to `base` (from startNitrolab or a control plane started with startCommand). */
export function apiKeyFor(base: string): string | undefined { return API_KEYS.get(base); }

/** A long-running nitrolab command (`card`, `host`, `control-plane`, …) started as a student would in a terminal. */
export interface StartedCommand { proc: ChildProcess; ready: Record<string, string>; output(): string; exited: Promise<number | null> }

/** Start `nitrolab <args>` and resolve with its IPC `ready` message. A control plane's ready message names its API-key
 *  file; its admin key is then remembered for `api()` calls to its URL. The process is pushed onto `procs` to kill. */
export function startCommand(args: string[], procs: ChildProcess[]): Promise<StartedCommand> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  procs.push(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    proc.on('message', (m: Record<string, string>) => {
      if (m['type'] !== 'ready') return;
      const keys = m['apiKeysFile'];
      if (keys !== undefined && m['url'] !== undefined) {
        API_KEYS.set(m['url'], (JSON.parse(readFileSync(keys, 'utf8')) as { admin: string }).admin);
      }
      resolve({ proc, ready: m, output: () => out, exited });
    });
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}:\n${out}`)));
  });
}

/** A REST call with the admin key of the `up` at `base` (or `opts.key`; `null` sends none). */
export async function api<T = unknown>(base: string, method: string, path: string, body?: unknown, opts: { key?: string | null } = {}): Promise<{ status: number; body: T }> {
  const key = opts.key === undefined ? API_KEYS.get(base) : opts.key;
  const res = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* plain text */ }
  return { status: res.status, body: parsed as T };
}

/** Poll `fn` until it returns a value (not undefined) or the deadline passes. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

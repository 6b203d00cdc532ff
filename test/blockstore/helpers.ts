// Shared set-up for the block-store and NBD client tests: temp dirs, a server with teardown and captured events,
// raw sockets for byte-level tests, and bounded runs of external tools (nbdinfo, qemu-img, qemu-io, nbdkit).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { startBlockStore, type BlockStore, type BlockStoreOptions } from '../../src/blockstore/server.ts';
import { SocketReader } from '../../src/blockstore/socket-reader.ts';

/** The tap test object, as far as these helpers use it. */
export interface TapLike { teardown(fn: () => unknown): void }

export async function tmpDir(t: TapLike, prefix = 'nbd-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Logged { level: string; obj: Record<string, unknown> }

export interface TestStore extends BlockStore { readonly logs: Logged[]; readonly dir: string }

/** Start a block store on 127.0.0.1 (or `socketPath`) over `dir` (default: a fresh temp dir), closed at teardown. */
export async function startStore(t: TapLike, opts: Partial<BlockStoreOptions> = {}): Promise<TestStore> {
  const dir = opts.dir ?? await tmpDir(t);
  const logs: Logged[] = [];
  const at = (level: string) => (obj: object) => { logs.push({ level, obj: obj as Record<string, unknown> }); };
  const store = await startBlockStore({
    ...opts, dir, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  });
  let closed = false;
  t.teardown(async () => { if (!closed) await store.close(); });
  const close = store.close.bind(store);
  return Object.assign(store, { logs, dir, close: async () => { closed = true; await close(); } });
}

export interface RawPeer { socket: Socket; reader: SocketReader; closed: Promise<void> }

/** A bare socket to the store, for byte-level protocol tests. */
export async function rawConnect(t: TapLike, store: BlockStore): Promise<RawPeer> {
  const a = store.address;
  const socket = a.kind === 'unix' ? connect({ path: a.socketPath }) : connect({ host: a.host, port: a.port });
  const reader = new SocketReader(socket);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  t.teardown(() => { socket.destroy(); });
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  return { socket, reader, closed };
}

/** Is an executable on PATH? */
export function haveTool(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, name)));
}

/** For `t.test(name, { skip }, …)`: a reason to skip when the tool is absent — except in CI, where it must run. */
export function skipUnlessTool(...names: string[]): false | string {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length === 0 || process.env.CI === 'true') return false;
  return `${missing.join(', ')} not installed (install nbdkit / qemu-utils / libnbd-bin to run this interop test)`;
}

export interface ToolRun { code: number | null; stdout: string; stderr: string }

/** Run an external tool with a hard timeout (killed with SIGKILL when it overruns). */
export function runTool(cmd: string, args: string[], timeoutMs = 30_000): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr: err !== null && code === null ? `${stderr}\n${err.message}` : stderr });
    });
  });
}

/** Deterministic bytes for data-integrity checks. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---- Byte-level handshake steps for raw peers ----

/** Read the 18-byte greeting and answer with client flags (default FIXED_NEWSTYLE | NO_ZEROES). */
export async function greet(p: RawPeer, clientFlags = 3): Promise<Buffer> {
  const g = await p.reader.readExact(18);
  const f = Buffer.alloc(4);
  f.writeUInt32BE(clientFlags);
  p.socket.write(f);
  return g;
}

export interface RawOptionReply { option: number; replyType: number; data: Buffer }

export async function readOptionReply(p: RawPeer): Promise<RawOptionReply> {
  const h = await p.reader.readExact(20);
  if (h.readBigUInt64BE(0) !== 0x0003e889045565a9n) throw new Error('bad option reply magic');
  const data = Buffer.from(await p.reader.readExact(h.readUInt32BE(16)));
  return { option: h.readUInt32BE(8), replyType: h.readUInt32BE(12), data };
}

/** Read option replies up to and including the final one (ACK or an error). */
export async function readUntilFinal(p: RawPeer): Promise<RawOptionReply[]> {
  const out: RawOptionReply[] = [];
  for (;;) {
    const r = await readOptionReply(p);
    out.push(r);
    if (r.replyType === 1 || r.replyType >= 0x80000000) return out;
  }
}

/** A raw peer taken through GO (optionally with structured replies) into transmission on `exportName`. */
export async function rawTransmission(t: TapLike, store: BlockStore, exportName: string, structured: boolean): Promise<RawPeer> {
  const { encodeOption, encodeInfoRequest } = await import('../../src/blockstore/wire.ts');
  const p = await rawConnect(t, store);
  await greet(p);
  if (structured) {
    p.socket.write(encodeOption(8));
    if ((await readOptionReply(p)).replyType !== 1) throw new Error('structured replies refused');
  }
  p.socket.write(encodeOption(7, encodeInfoRequest(exportName, [])));
  const replies = await readUntilFinal(p);
  if (replies.at(-1)?.replyType !== 1) throw new Error(`GO ${exportName} failed`);
  return p;
}

export interface ExternalServer { url: string; stop(): Promise<void> }

/**
 * Start `nbdkit -U - <args>` and resolve once it listens: nbdkit runs `--run` only when its socket is ready, and
 * that command prints the URI and then waits on stdin, so closing stdin stops the server. Killed at teardown.
 */
export async function startNbdkit(t: TapLike, args: string[], timeoutMs = 20_000): Promise<ExternalServer> {
  const { spawn } = await import('node:child_process');
  const child = spawn('nbdkit', ['-U', '-', '--exit-with-parent', ...args, '--run', 'echo "$uri"; cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(killer);
  };
  t.teardown(stop);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`nbdkit did not start: ${err}`)); }, timeoutMs);
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl).trim()); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`nbdkit exited (${code}): ${err}`)); });
  });
  return { url, stop };
}

/** Start `qemu-nbd` on a raw file, on a Unix socket; `--fork` returns once the socket is ready. Killed at teardown. */
export async function startQemuNbd(t: TapLike, file: string, dir: string): Promise<ExternalServer> {
  const { readFile } = await import('node:fs/promises');
  const sock = join(dir, 'qemu-nbd.sock');
  const pidFile = join(dir, 'qemu-nbd.pid');
  const r = await runTool('qemu-nbd', ['-f', 'raw', '-k', sock, '--persistent', '--fork', '--pid-file', pidFile, '-x', 'disk', '--cache=none', '--aio=threads', file]);
  if (r.code !== 0) throw new Error(`qemu-nbd failed: ${r.stderr}`);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  const stop = async (): Promise<void> => { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } };
  t.teardown(stop);
  return { url: `nbd+unix:///disk?socket=${encodeURIComponent(sock)}`, stop };
}

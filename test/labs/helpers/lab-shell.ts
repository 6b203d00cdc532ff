// Runs a lab page's commands the way a student types them: the page's fenced ```sh <name> blocks, extracted by name
// and fed in order to one long-lived bash (so variables set by one block are there for the next), from the
// repository root. The test then asserts on each block's output what the page tells students to look for. A block
// that is renamed or removed from the page fails the test, so a lab and its test cannot drift apart.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../../src/common/stop-child.ts';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The ```sh <name> blocks of a page under docs/labs/, by name (names must be unique). */
export function shBlocks(page: string): Map<string, string> {
  const text = readFileSync(new URL(`../../../docs/labs/${page}`, import.meta.url), 'utf8');
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(/^```sh ([\w-]+)\n([\s\S]*?)^```$/gmu)) {
    const [, name, body] = m;
    if (name === undefined || body === undefined) continue;
    if (blocks.has(name)) throw new Error(`${page}: two blocks named ${name}`);
    blocks.set(name, body);
  }
  return blocks;
}

export function block(blocks: Map<string, string>, name: string): string {
  const b = blocks.get(name);
  if (b === undefined) throw new Error(`no \`\`\`sh ${name} block in the lab page (have: ${[...blocks.keys()].join(', ')})`);
  return b;
}

export interface RunResult { out: string; code: number }

/** One bash, kept open across blocks; stdout and stderr together, as a terminal shows them. */
export class LabShell {
  readonly #bash: ChildProcessWithoutNullStreams;
  #buf = '';
  #seq = 0;
  #waiter: (() => void) | undefined;

  constructor(env: Record<string, string>) {
    this.#bash = spawn('bash', ['--noprofile', '--norc'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (d: Buffer) => { this.#buf += d.toString(); this.#waiter?.(); };
    this.#bash.stdout.on('data', take);
    this.#bash.stderr.on('data', take);
    this.#bash.stdin.write('exec 2>&1\n');
  }

  /** Run a script to its end (bounded by `timeoutMs`); its output and the status of its last command. */
  async run(script: string, timeoutMs = 60_000): Promise<RunResult> {
    const mark = `__lab_done_${++this.#seq}_`;
    this.#buf = '';
    this.#bash.stdin.write(`${script}\nprintf '\\n${mark}%d\\n' "$?"\n`);
    const re = new RegExp(`\\n?${mark}(\\d+)\\n`, 'u');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#buf);
      if (m) return { out: this.#buf.slice(0, m.index), code: Number(m[1]) };
      if (this.#bash.exitCode !== null) throw new Error(`bash exited (${this.#bash.exitCode}) during:\n${script}\n${this.#buf}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms running:\n${script}\noutput so far:\n${this.#buf}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.#waiter = () => { clearTimeout(t); resolve(); };
      });
      this.#waiter = undefined;
    }
  }

  /** Re-run `script` until `re` matches its output (a student re-running a command while waiting). */
  async until(script: string, re: RegExp, timeoutMs = 90_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = (await this.run(script, Math.max(5_000, deadline - Date.now()))).out;
      if (re.test(last)) return last;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} from:\n${script}\nlast output:\n${last}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  close(): void {
    if (this.#bash.exitCode === null) this.#bash.stdin.end('exit\n');
  }
}

export interface LabUp { url: string; dataDir: string; output(): string; stop(): Promise<void> }

/**
 * The page's ```sh up block (`npx nitrolab up …`), run as the real `nitrolab up` with `--port 0` and a temp data dir
 * in place of the page's, and without NITROLAB_API_KEY in the environment, so `up` generates its keys and saves them
 * in <data-dir>/api-keys.json where the page's ```sh env block reads them.
 */
export async function startLabUp(upBlock: string, timeoutMs = 90_000): Promise<LabUp> {
  const words = upBlock.trim().split(/\s+/u);
  if (words.slice(0, 3).join(' ') !== 'npx nitrolab up') throw new Error(`the up block is not \`npx nitrolab up …\`: ${upBlock}`);
  const args = words.slice(3);
  const dataDir = mkdtempSync(join(tmpdir(), 'nl-lab-'));
  const at = args.indexOf('--data-dir');
  if (at >= 0) args.splice(at, 2);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NITROLAB_API_KEY'];
  delete env['NITROLAB_API_KEY_READONLY'];
  const proc = spawn(process.execPath, [join(ROOT, 'bin/nitrolab.js'), 'up', ...args, '--port', '0', '--data-dir', dataDir], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
  proc.stderr?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
  const stop = async () => {
    await stopChild(proc, 10_000);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nitrolab up not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs);
      proc.on('message', (m: { type?: string; url?: string }) => { if (m.type === 'ready' && m.url) { clearTimeout(timer); resolve(m.url); } });
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`nitrolab up exited with ${code}:\n${out}`)); });
    });
    return { url, dataDir, output: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The page's ```sh env block, pointed at this `up` (its URL and data dir instead of the page's defaults). */
export function envFor(envBlock: string, up: LabUp): string {
  return envBlock.replaceAll('http://127.0.0.1:8080', up.url).replaceAll('.nitrolab/', `${up.dataDir}/`);
}

// The durability contract (docs/block-store.md): a write completed with FUA, or followed by a completed Flush,
// survives kill -9 of the card and of the block store. Real processes: `nitrolab blockstore` and `nitrolab card
// --blockstore`, an NVMe host driving the card's EBS function over the PCIe link (the conformance suite's host).
// Also: the card works against another NBD server (nbdkit memory) as its block store, and a block store that goes
// away gives the guest a retryable status, not a hang, and the volume comes back when the store does.
import t, { type Test } from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CardSession } from '../../../src/conformance/session.ts';
import { socketConnector } from '../../../src/conformance/connect.ts';
import { NvmeHost } from '../../../src/conformance/nvme-host.ts';
import { Gm } from '../../../src/conformance/guest.ts';
import { IoOpc } from '../../../src/devices/nvme/regs.ts';
import { Sc } from '../../../src/devices/nvme/status.ts';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const VOL = 'vol-0d0000000000000a1';
const VOL_BYTES = 8 << 20;
const FUA = 1 << 30;

interface Proc { proc: ChildProcess; ready: Record<string, unknown>; kill9(): Promise<void> }

async function nitrolab(t: Test, args: string[]): Promise<Proc> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} not ready in 60 s: ${stderr}`)), 60_000);
    proc.on('message', (m: Record<string, unknown>) => { if (m.type === 'ready') { clearTimeout(timer); resolve(m); } });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${args[0]} exited (${code}): ${stderr}`)); });
  });
  return {
    proc, ready,
    kill9: () => new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGKILL'); }),
  };
}

/** A card process with the given block store; an instance with VOL on it; an NVMe host on the volume's function. */
async function cardWithVolume(t: Test, dir: string, blockstore: string, sizeBytes = VOL_BYTES) {
  const linkPath = join(dir, `link-${Math.random().toString(16).slice(2, 8)}.sock`);
  const card = await nitrolab(t, ['card', '--listen', linkPath, '--data-dir', join(dir, 'card'), '--mgmt-port', '0', '--blockstore', blockstore]);
  const session = new CardSession(socketConnector(linkPath), 5000);
  t.teardown(() => session.close());
  await session.startHypervisor();
  const token = readFileSync(String(card.ready.tokenPath), 'utf8').trim();
  const instanceId = `i-d0${Math.random().toString(16).slice(2, 12).padEnd(10, '0')}`;
  const res = await fetch(`${String(card.ready.mgmtUrl)}/mgmt/v1/instances`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId, instanceType: 'durability', vcpus: 1, memMiB: 4, userData: '', volumes: [{ volumeId: VOL, sizeBytes, deviceName: '/dev/sdf' }] }),
  });
  if (res.status !== 201) throw new Error(`launch refused: ${res.status} ${await res.text()}`);
  const fn = session.mgmtLog.flatMap((r) => (r.op === 'assign-vf' ? [r.fn] : []))[0];
  if (fn === undefined) throw new Error('no function assigned');
  const host = await NvmeHost.attach(await session.open('durability'), fn, 5000);
  await host.init();
  await host.createIoQueues();
  return { card, host, mgmtUrl: String(card.ready.mgmtUrl), token, instanceId };
}

/** Block i's 4 KiB pattern. */
function pattern(i: number): Uint8Array {
  const b = new Uint8Array(4096);
  for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j * 7 + 1) & 0xff;
  return b;
}
const lbaOf = (i: number): number => i * 8 + (i % 3) * 1024; // spread over the volume, 4 KiB aligned

async function writeBlock(host: NvmeHost, i: number, fua: boolean): Promise<number> {
  host.mem.set(pattern(i), Gm.DATA);
  const c = await host.io({ opc: IoOpc.WRITE, nsid: 1, prp1: Gm.DATA, cdw10: lbaOf(i), cdw12: 7 | (fua ? FUA : 0) });
  return c.code;
}

async function readBlock(host: NvmeHost, i: number): Promise<Uint8Array | number> {
  host.mem.fill(0, Gm.DATA2, Gm.DATA2 + 4096);
  const c = await host.io({ opc: IoOpc.READ, nsid: 1, prp1: Gm.DATA2, cdw10: lbaOf(i), cdw12: 7 });
  return c.code !== 0 ? c.code : host.mem.slice(Gm.DATA2, Gm.DATA2 + 4096);
}

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'nl-dur-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('FUA writes and flushed writes survive kill -9 of the card and of the block store', async (t) => {
  const dir = tmp(t);
  const bsDir = join(dir, 'blockstore');
  let bs = await nitrolab(t, ['blockstore', '--listen', '127.0.0.1:0', '--dir', bsDir, '--create', `${VOL}:${VOL_BYTES}`]);
  let c = await cardWithVolume(t, dir, String(bs.ready.url));
  for (let i = 0; i < 16; i++) t.equal(await writeBlock(c.host, i, true), 0, `FUA write ${i}`);
  for (let i = 16; i < 48; i++) t.equal(await writeBlock(c.host, i, false), 0, `write ${i}`);
  t.equal((await c.host.io({ opc: IoOpc.FLUSH, nsid: 1 })).code, 0, 'Flush completed');

  await c.card.kill9();
  await bs.kill9();
  bs = await nitrolab(t, ['blockstore', '--listen', '127.0.0.1:0', '--dir', bsDir]);
  t.same(bs.ready.exports, [VOL], 'the block store comes back with the export');
  c = await cardWithVolume(t, dir, String(bs.ready.url));
  let intact = 0;
  for (let i = 0; i < 48; i++) {
    const got = await readBlock(c.host, i);
    if (typeof got !== 'number' && Buffer.compare(Buffer.from(got), Buffer.from(pattern(i))) === 0) intact++;
    else t.fail(`block ${i} ${typeof got === 'number' ? `read failed with status 0x${got.toString(16)}` : 'differs'}`);
  }
  t.equal(intact, 48, 'every FUA or flushed block is intact after the crash');
});

t.test('a block store that goes away: I/O fails with a retryable status, then works again when it is back', async (t) => {
  const dir = tmp(t);
  const bsDir = join(dir, 'blockstore');
  const bs = await nitrolab(t, ['blockstore', '--listen', '127.0.0.1:0', '--dir', bsDir, '--create', `${VOL}:${VOL_BYTES}`]);
  const url = String(bs.ready.url);
  const c = await cardWithVolume(t, dir, url);
  t.equal(await writeBlock(c.host, 1, true), 0);
  await bs.kill9();
  const code = await writeBlock(c.host, 2, true);
  t.equal(code, Sc.INTERNAL_ERROR, 'Internal Error without DNR: the guest may retry');
  const port = new URL(url).port;
  await nitrolab(t, ['blockstore', '--listen', `127.0.0.1:${port}`, '--dir', bsDir]);
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = (await writeBlock(c.host, 2, true)) === 0;
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ok, 'the card reconnected and the retried write succeeds');
  const got = await readBlock(c.host, 1);
  t.same(typeof got === 'number' ? got : Buffer.from(got), Buffer.from(pattern(1)), 'earlier data intact');
  const res = await fetch(`${c.mgmtUrl}/mgmt/v1/instances/${c.instanceId}/volumes`, { headers: { authorization: `Bearer ${c.token}` } });
  const vols = (await res.json()) as { volumes: { volumeId: string; backend: string; nbdUrl: string }[] };
  t.match(vols.volumes, [{ volumeId: VOL, backend: 'nbd', nbdUrl: `${url}${VOL}` }]);
});

t.test('an unknown export: the launch is refused with BlockStoreUnavailable, nothing crashes', async (t) => {
  const dir = tmp(t);
  const bs = await nitrolab(t, ['blockstore', '--listen', '127.0.0.1:0', '--dir', join(dir, 'bs')]);
  await t.rejects(cardWithVolume(t, dir, String(bs.ready.url)), /503.*BlockStoreUnavailable/);
});

t.test('nbdkit memory as the block store: an export of another NBD server works as a volume', async (t) => {
  try { execFileSync('sh', ['-c', 'command -v nbdkit'], { stdio: 'ignore' }); } catch {
    t.comment('skipped: nbdkit is not installed (apt-get install nbdkit)');
    return;
  }
  const dir = tmp(t);
  const sock = join(dir, 'nbdkit.sock');
  const kit = spawn('nbdkit', ['-f', '--exit-with-parent', '-U', sock, 'memory', String(VOL_BYTES)], { stdio: 'ignore', env: { ...process.env, CI: 'true' } });
  t.teardown(() => { kit.kill('SIGKILL'); });
  for (let i = 0; i < 100; i++) {
    try { execFileSync('nbdinfo', ['--size', `nbd+unix:///?socket=${sock}`], { stdio: 'ignore' }); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  const c = await cardWithVolume(t, dir, `nbd+unix:///?socket=${sock}`);
  for (let i = 0; i < 8; i++) t.equal(await writeBlock(c.host, i, i % 2 === 0), 0);
  t.equal((await c.host.io({ opc: IoOpc.FLUSH, nsid: 1 })).code, 0);
  for (let i = 0; i < 8; i++) {
    const got = await readBlock(c.host, i);
    t.same(typeof got === 'number' ? got : Buffer.from(got), Buffer.from(pattern(i)), `block ${i} reads back from nbdkit`);
  }
  const past = await c.host.io({ opc: IoOpc.READ, nsid: 1, prp1: Gm.DATA2, cdw10: VOL_BYTES / 512, cdw12: 0 });
  t.equal(past.code, Sc.LBA_OUT_OF_RANGE, 'a read past the end: LBA Out of Range');
});

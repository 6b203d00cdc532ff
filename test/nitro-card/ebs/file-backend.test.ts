// The sparse-file BlockBackend in a temp dir, alone and behind the NVMe controller.
import t, { type Test } from 'tap';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBackend } from '../../../src/nitro-card/ebs/file-backend.ts';
import { BackendError } from '../../../src/devices/nvme/backend.ts';
import { TestDriver, DATA } from '../../devices/nvme/driver.ts';
import { IoOpc } from '../../../src/devices/nvme/regs.ts';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nitrolab-fb-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a new volume is a sparse file of the requested size that reads zeros', async (t) => {
  const path = join(await tempDir(t), 'vol.img');
  const b = await FileBackend.open(path, { sizeBytes: 64 << 20 });
  t.teardown(() => b.close());
  t.equal((await stat(path)).size, 64 << 20);
  const dst = new Uint8Array(4096).fill(1);
  await b.read(32 << 20, dst);
  t.ok(dst.every((x) => x === 0));
});

t.test('write, flush, writeZeroes, discard and reopen keep the data', async (t) => {
  const path = join(await tempDir(t), 'vol.img');
  const b = await FileBackend.open(path, { sizeBytes: 1 << 20 });
  const src = Uint8Array.from({ length: 8192 }, (_, i) => (i * 13) & 0xff);
  await b.write(4096, src, true);
  await b.flush();
  await b.writeZeroes(4096, 512, false);
  await b.discard(8192, 512);
  await b.close();
  const again = await FileBackend.open(path, { sizeBytes: 1 << 20 });
  t.teardown(() => again.close());
  const dst = new Uint8Array(8192);
  await again.read(4096, dst);
  t.ok(dst.subarray(0, 512).every((x) => x === 0), 'write zeroes');
  t.same(dst.subarray(512, 4096), src.subarray(512, 4096));
  t.ok(dst.subarray(4096, 4608).every((x) => x === 0), 'discarded range reads zeros');
  t.same(dst.subarray(4608), src.subarray(4608));
});

t.test('out-of-range and closed access are BackendErrors', async (t) => {
  const path = join(await tempDir(t), 'vol.img');
  const b = await FileBackend.open(path, { sizeBytes: 4096, keep: false });
  await t.rejects(b.read(4000, new Uint8Array(512)), BackendError);
  t.equal(await kindOf(b.write(-1, new Uint8Array(1), false)), 'range');
  await b.close();
  t.equal(await kindOf(b.flush()), 'unavailable');
  t.equal(await kindOf(FileBackend.open(path, { sizeBytes: 0 })), 'range');
});

t.test('behind the NVMe controller: a write and a read of 8 KiB through PRP1/PRP2 hit the file', async (t) => {
  const path = join(await tempDir(t), 'vol.img');
  const b = await FileBackend.open(path, { sizeBytes: 1 << 20 });
  t.teardown(() => b.close());
  const d = new TestDriver({ personality: 'instance-store' });
  d.ctrl.attachNamespace(1, b, 4096);
  d.enable();
  await d.createIoQueues(1);
  const src = d.fill(DATA, 8192, 3).slice();
  d.submit(1, { opc: IoOpc.WRITE, nsid: 1, prp1: DATA, prp2: DATA + 4096, cdw10: 5, cdw12: 1 | (1 << 30) });
  const w = await waitFor(d, 1);
  t.equal(w, 1);
  d.host.mem.fill(0, DATA, DATA + 8192);
  d.submit(1, { opc: IoOpc.READ, nsid: 1, prp1: DATA, prp2: DATA + 4096, cdw10: 5, cdw12: 1 });
  t.equal(await waitFor(d, 1), 1);
  t.same(d.host.mem.subarray(DATA, DATA + 8192), src);
  const raw = new Uint8Array(8192);
  await b.read(5 * 4096, raw);
  t.same(raw, src, 'bytes are in the file at LBA 5');
});

/** Real file I/O completes on the libuv pool, not in setImmediate rounds: poll with short sleeps (bounded). */
async function waitFor(d: TestDriver, qid: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const c = d.peek(qid);
    if (c !== null) { d.consume(qid); return c.st; }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no completion from the file-backed namespace');
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try { await p; return 'resolved'; } catch (e) { return e instanceof BackendError ? e.kind : 'other'; }
}

// NbdClient as a BlockBackend: every command against our block store, splitting, pipelining, plainer servers,
// losing the server and reconnecting; then against real servers (nbdkit, qemu-nbd).
import t from 'tap';
import { join } from 'node:path';
import { writeFile, readFile } from 'node:fs/promises';
import { NbdClient } from '../../../src/nitro-card/ebs/nbd-client.ts';
import { BackendError } from '../../../src/devices/nvme/backend.ts';
import {
  pattern, skipUnlessTool, startNbdkit, startQemuNbd, startStore, tmpDir, type TapLike,
} from '../../blockstore/helpers.ts';

async function client(t: TapLike, url: string, opts: Parameters<typeof NbdClient.connect>[1] = {}): Promise<NbdClient> {
  const c = await NbdClient.connect(url, opts);
  t.teardown(() => c.close());
  return c;
}

t.test('read, write (with and without FUA), flush, writeZeroes, discard and trim against our store', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-cmds', 16 << 20);
  const c = await client(t, store.url('vol-cmds'));
  t.equal(c.sizeBytes, 16 << 20);
  t.match(c.params, { via: 'go', structuredReplies: true });
  const data = pattern(1 << 20, 10);
  await c.write(0, data, false);
  await c.write(1 << 20, data, true);
  await c.flush();
  const back = new Uint8Array(2 << 20);
  await c.read(0, back);
  t.ok(Buffer.from(back).equals(Buffer.concat([data, data])), 'both writes read back');
  await c.writeZeroes(4096, 4096, true);
  await c.discard(8192, 8192);
  await c.trim(1 << 20, 4096);
  const z = new Uint8Array(12288);
  await c.read(4096, z);
  t.ok(z.every((x) => x === 0), 'write-zeroes and discard read back as zeros');
  const after = new Uint8Array(4096);
  await c.read(16384, after);
  t.ok(Buffer.from(after).equals(data.subarray(16384, 20480)), 'bytes next to them are untouched');
  const s = store.stats();
  t.same([s['nbd.cmd.WRITE'], s['nbd.cmd.FLUSH'], s['nbd.cmd.WRITE_ZEROES'], s['nbd.cmd.TRIM']], [2, 1, 2, 1]);
});

t.test('requests outside the export are refused before they are sent', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-r', 65536);
  const c = await client(t, store.url('vol-r'));
  await t.rejects(c.read(65536 - 512, new Uint8Array(1024)), { name: 'BackendError', kind: 'range' });
  await t.rejects(c.write(-1, new Uint8Array(1), false), { name: 'BackendError', kind: 'range' });
  t.equal(store.stats()['nbd.cmd.READ'], undefined);
});

t.test('requests above the maximum payload are split and reassembled', async (t) => {
  const store = await startStore(t, { maxPayload: 65536 });
  await store.createExport('vol-split', 4 << 20);
  const c = await client(t, store.url('vol-split'));
  t.equal(c.params.maxPayload, 65536);
  const data = pattern(1 << 20, 11);
  await c.write(512, data, true);
  const back = new Uint8Array(1 << 20);
  await c.read(512, back);
  t.ok(Buffer.from(back).equals(data));
  t.same([store.stats()['nbd.cmd.WRITE'], store.stats()['nbd.cmd.READ']], [16, 16], '1 MiB / 64 KiB = 16 requests each');
  t.equal(store.stats()['nbd.request.EINVAL'], undefined, 'no request exceeded the limit');
});

t.test('64 requests in flight keep every byte in place', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-qd', 8 << 20);
  const c = await client(t, store.url('vol-qd'), { maxInFlight: 64 });
  const block = 65536;
  await Promise.all(Array.from({ length: 64 }, (_, i) => c.write(i * block, pattern(block, 100 + i), false)));
  const bufs = Array.from({ length: 64 }, () => new Uint8Array(block));
  await Promise.all(bufs.map((b, i) => c.read(i * block, b)));
  const bad = bufs.filter((b, i) => !Buffer.from(b).equals(pattern(block, 100 + i))).length;
  t.equal(bad, 0, 'all 64 blocks intact');
});

t.test('a plainer server: no FUA, FLUSH, TRIM or WRITE_ZEROES is ever sent, zeros are written instead', async (t) => {
  const store = await startStore(t, { features: { fua: false, flush: false, trim: false, writeZeroes: false, structuredReplies: false } });
  await store.createExport('vol-plain', 1 << 20);
  const c = await client(t, store.url('vol-plain'));
  t.match(c.params, { structuredReplies: false });
  await c.write(0, Buffer.alloc(8192, 0xaa), true);
  await c.flush();
  await c.writeZeroes(0, 4096, true);
  await c.discard(4096, 4096);
  await c.trim(0, 4096);
  const back = new Uint8Array(8192);
  await c.read(0, back);
  t.ok(back.every((x) => x === 0));
  t.equal(store.stats()['nbd.request.EINVAL'], undefined, 'the server refused nothing');
  t.same([store.stats()['nbd.cmd.WRITE'], store.stats()['nbd.cmd.FLUSH'], store.stats()['nbd.cmd.TRIM']], [3, undefined, undefined]);
  t.match(c.stats(), { 'nbd.client.write-zeroes-emulated': 2, 'nbd.client.trim-skipped': 1, 'nbd.client.flush-skipped': 3 });
});

t.test('an unknown export fails to connect with unavailable', async (t) => {
  const store = await startStore(t);
  await t.rejects(NbdClient.connect(store.url('vol-missing')), { name: 'BackendError', kind: 'unavailable', message: /vol-missing/ });
  await t.rejects(NbdClient.connect('nbd://127.0.0.1:1/vol-x'), { name: 'BackendError', kind: 'unavailable' });
});

t.test('server gone: requests fail with unavailable; reconnect() resumes with the data intact', async (t) => {
  const dir = await tmpDir(t);
  const socketPath = join(dir, 'bs.sock');
  const first = await startStore(t, { dir: join(dir, 'data'), socketPath });
  await first.createExport('vol-rc', 1 << 20);
  const downs: string[] = [];
  const c = await client(t, first.url('vol-rc'), { onDisconnect: (r) => downs.push(r) });
  await c.write(0, Buffer.alloc(4096, 0x5a), true);
  await first.close();
  await t.rejects(c.read(0, new Uint8Array(4096)), BackendError);
  await t.rejects(c.read(0, new Uint8Array(4096)), { name: 'BackendError', kind: 'unavailable' });
  t.equal(c.connected, false);
  t.equal(downs.length, 1, 'onDisconnect called');
  await t.rejects(c.reconnect(), { name: 'BackendError', kind: 'unavailable' }, 'nothing listening yet');
  const second = await startStore(t, { dir: join(dir, 'data'), socketPath });
  await c.reconnect();
  t.equal(c.connected, true);
  const back = new Uint8Array(4096);
  await c.read(0, back);
  t.ok(back.every((x) => x === 0x5a), 'the FUA write survived the restart');
  t.equal(c.stats()['nbd.client.reconnect'], 1);
  await second.close();
});

t.test('close waits for requests in flight, then later calls are unavailable', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-close', 1 << 20);
  const c = await NbdClient.connect(store.url('vol-close'));
  const w = c.write(0, pattern(65536, 12), false);
  await c.close();
  await w;
  await t.rejects(c.flush(), { name: 'BackendError', kind: 'unavailable' });
  // The server ends the connection once it has read DISC; wait (bounded) for it to notice.
  for (let i = 0; i < 10_000 && store.connections() > 0; i++) await new Promise((r) => setImmediate(r));
  t.equal(store.stats()['nbd.request.disc'], 1, 'DISC reached the server');
});

t.test('against nbdkit memory 64M: every command, with structured replies', { skip: skipUnlessTool('nbdkit') }, async (t) => {
  const srv = await startNbdkit(t, ['memory', '64M']);
  const c = await client(t, srv.url);
  t.match(c.params, { sizeBytes: 64 << 20, structuredReplies: true, via: 'go' });
  const data = pattern(3 << 20, 13);
  await c.write(4096, data, true);
  await c.flush();
  const back = new Uint8Array(3 << 20);
  await c.read(4096, back);
  t.ok(Buffer.from(back).equals(data));
  await c.writeZeroes(4096, 65536, false);
  await c.discard(1 << 20, 65536);
  const z = new Uint8Array(65536);
  await c.read(4096, z);
  t.ok(z.every((x) => x === 0));
  await c.read(1 << 20, z);
  t.ok(z.every((x) => x === 0));
  await t.rejects(c.read(64 << 20, new Uint8Array(1)), { name: 'BackendError', kind: 'range' });
});

t.test('against nbdkit with simple replies only and a 64 KiB maximum payload', { skip: skipUnlessTool('nbdkit') }, async (t) => {
  const srv = await startNbdkit(t, ['--no-sr', '--filter=blocksize-policy', 'memory', '16M',
    'blocksize-maximum=65536', 'blocksize-error-policy=error']);
  const c = await client(t, srv.url);
  t.match(c.params, { structuredReplies: false, maxPayload: 65536 });
  const data = pattern(1 << 20, 14);
  await c.write(0, data, false);
  const back = new Uint8Array(1 << 20);
  await c.read(0, back);
  t.ok(Buffer.from(back).equals(data), 'split requests were accepted and reassembled');
  t.ok((c.stats()['nbd.client.split'] ?? 0) >= 2);
});

t.test('against nbdkit without write-zeroes support, zeros are written', { skip: skipUnlessTool('nbdkit') }, async (t) => {
  const srv = await startNbdkit(t, ['--filter=nozero', 'memory', '8M']);
  const c = await client(t, srv.url);
  await c.write(0, Buffer.alloc(8192, 1), false);
  await c.writeZeroes(0, 8192, false);
  const back = new Uint8Array(8192);
  await c.read(0, back);
  t.ok(back.every((x) => x === 0));
  t.equal(c.stats()['nbd.client.write-zeroes-emulated'], 1);
});

t.test('against qemu-nbd on a raw file: writes land in the file', { skip: skipUnlessTool('qemu-nbd') }, async (t) => {
  const dir = await tmpDir(t);
  const file = join(dir, 'disk.raw');
  await writeFile(file, Buffer.alloc(4 << 20));
  const srv = await startQemuNbd(t, file, dir);
  const c = await client(t, srv.url);
  t.equal(c.sizeBytes, 4 << 20);
  const data = pattern(65536, 15);
  await c.write(8192, data, true);
  await c.flush();
  await c.close();
  await srv.stop();
  t.ok((await readFile(file)).subarray(8192, 8192 + 65536).equals(data));
});

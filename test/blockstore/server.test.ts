// startBlockStore: the export API, URLs, persistence across restarts, Unix sockets, and closing connections.
import t from 'tap';
import { join } from 'node:path';
import { NBD_CMD, NBD_CMD_FLAG } from '../../src/blockstore/protocol.ts';
import { encodeRequest } from '../../src/blockstore/wire.ts';
import { pattern, rawTransmission, startStore, tmpDir } from './helpers.ts';

t.test('exports are created, listed and deleted, and urls name them', async (t) => {
  const store = await startStore(t);
  t.equal(store.address.kind, 'tcp');
  if (store.address.kind === 'tcp') {
    t.equal(store.address.host, '127.0.0.1');
    t.equal(store.url('vol-1'), `nbd://127.0.0.1:${store.address.port}/vol-1`);
  }
  await store.createExport('vol-1', 1 << 20);
  await t.rejects(store.createExport('vol-1', 1 << 20), { code: 'exists' });
  await t.rejects(store.createExport('not a volume', 4096), { code: 'invalid-name' });
  t.same(store.listExports().map((e) => [e.name, e.sizeBytes]), [['vol-1', 1 << 20]]);
  await store.deleteExport('vol-1');
  t.same(store.listExports(), []);
});

t.test('a Unix-socket store gives nbd+unix urls', async (t) => {
  const dir = await tmpDir(t);
  const socketPath = join(dir, 'bs.sock');
  const store = await startStore(t, { socketPath });
  t.same(store.address, { kind: 'unix', socketPath });
  t.equal(store.url('vol-u'), `nbd+unix:///vol-u?socket=${encodeURIComponent(socketPath)}`);
  await store.createExport('vol-u', 4096);
  const p = await rawTransmission(t, store, 'vol-u', false);
  p.socket.write(encodeRequest({ type: NBD_CMD.READ, flags: 0, cookie: 1n, offset: 0n, length: 16 }));
  t.equal((await p.reader.readExact(16)).readUInt32BE(4), 0, 'served over the Unix socket');
});

t.test('exports and acknowledged data survive a restart of the store', async (t) => {
  const dir = await tmpDir(t);
  const first = await startStore(t, { dir });
  await first.createExport('vol-persist', 1 << 20);
  const p = await rawTransmission(t, first, 'vol-persist', false);
  const data = pattern(65536, 6);
  p.socket.write(encodeRequest({ type: NBD_CMD.WRITE, flags: NBD_CMD_FLAG.FUA, cookie: 1n, offset: 8192n, length: data.length }));
  p.socket.write(data);
  t.equal((await p.reader.readExact(16)).readUInt32BE(4), 0, 'FUA write acknowledged');
  await first.close();

  const second = await startStore(t, { dir });
  t.same(second.listExports().map((e) => e.name), ['vol-persist']);
  const q = await rawTransmission(t, second, 'vol-persist', false);
  q.socket.write(encodeRequest({ type: NBD_CMD.READ, flags: 0, cookie: 2n, offset: 8192n, length: data.length }));
  t.equal((await q.reader.readExact(16)).readUInt32BE(4), 0);
  t.same(await q.reader.readExact(data.length), data);
});

t.test('deleting an export closes the connections using it and only those', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-del', 65536);
  await store.createExport('vol-stay', 65536);
  const doomed = await rawTransmission(t, store, 'vol-del', false);
  const other = await rawTransmission(t, store, 'vol-stay', false);
  await store.deleteExport('vol-del');
  await doomed.closed;
  other.socket.write(encodeRequest({ type: NBD_CMD.READ, flags: 0, cookie: 5n, offset: 0n, length: 8 }));
  t.equal((await other.reader.readExact(16)).readUInt32BE(4), 0);
  t.equal(store.connections(), 1);
});

t.test('close ends every connection and stops listening', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-c', 4096);
  const p = await rawTransmission(t, store, 'vol-c', false);
  await store.close();
  await p.closed;
  t.equal(store.connections(), 0);
  t.ok(store.logs.some((l) => l.obj.event === 'blockstore.closed'));
});

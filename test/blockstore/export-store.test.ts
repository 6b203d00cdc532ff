// ExportStore: volume-id names, sizes, sparse files with metadata that survive reopening, zeroing, deletion.
import t from 'tap';
import { stat, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockStoreError, ExportStore, PUNCH_MIN_BYTES } from '../../src/blockstore/export-store.ts';
import { pattern, tmpDir } from './helpers.ts';

t.test('create makes a sparse image of the requested size and records it', async (t) => {
  const dir = await tmpDir(t);
  const store = await ExportStore.open(dir);
  t.teardown(() => store.close());
  const info = await store.create('vol-0a1b', 1 << 30);
  t.match(info, { name: 'vol-0a1b', sizeBytes: 1 << 30 });
  const st = await stat(join(dir, 'vol-0a1b.img'));
  t.equal(st.size, 1 << 30);
  t.ok(st.blocks * 512 < 1 << 20, 'no data blocks allocated');
  t.same(store.list().map((e) => e.name), ['vol-0a1b']);
});

t.test('names must be volume ids and sizes whole sectors', async (t) => {
  const store = await ExportStore.open(await tmpDir(t));
  t.teardown(() => store.close());
  await t.rejects(store.create('../etc', 4096), { code: 'invalid-name', status: 400 });
  await t.rejects(store.create('disk1', 4096), BlockStoreError);
  await t.rejects(store.create('vol-1', 1000), { code: 'invalid-size' });
  await t.rejects(store.create('vol-1', 0), { code: 'invalid-size' });
  await store.create('vol-1', 4096);
  await t.rejects(store.create('vol-1', 4096), { code: 'exists', status: 409 });
  await t.rejects(store.delete('vol-2'), { code: 'not-found', status: 404 });
});

t.test('data and exports survive closing and reopening the store', async (t) => {
  const dir = await tmpDir(t);
  const a = await ExportStore.open(dir);
  await a.create('vol-keep', 1 << 20);
  const data = pattern(8192, 1);
  await a.get('vol-keep')?.write(4096, data);
  await a.get('vol-keep')?.datasync();
  await a.close();
  const b = await ExportStore.open(dir);
  t.teardown(() => b.close());
  const e = b.get('vol-keep');
  t.ok(e);
  t.equal(e?.sizeBytes, 1 << 20);
  const back = Buffer.alloc(8192);
  await e?.read(4096, back);
  t.same(back, data);
});

t.test('corrupt or orphaned metadata is skipped and reported, the rest still opens', async (t) => {
  const dir = await tmpDir(t);
  const a = await ExportStore.open(dir);
  await a.create('vol-good', 4096);
  await a.close();
  await writeFile(join(dir, 'vol-bad.json'), '{ not json');
  await writeFile(join(dir, 'vol-orphan.json'), JSON.stringify({ name: 'vol-orphan', sizeBytes: 4096 }));
  const skipped: string[] = [];
  const b = await ExportStore.open(dir, (f) => skipped.push(f));
  t.teardown(() => b.close());
  t.same(b.list().map((e) => e.name), ['vol-good']);
  t.same(skipped.sort(), ['vol-bad.json', 'vol-orphan.json']);
});

t.test('zeroRange punches large ranges, writes small ones, and both read back as zeros', async (t) => {
  const store = await ExportStore.open(await tmpDir(t));
  t.teardown(() => store.close());
  await store.create('vol-z', 8 << 20);
  const e = store.get('vol-z');
  if (e === undefined) throw new Error('missing export');
  await e.write(0, pattern(8 << 20, 2));
  t.equal(await e.zeroRange(100, 1000, true), 'written', 'small range: zeros written');
  t.equal(await e.zeroRange(1 << 20, PUNCH_MIN_BYTES * 2, false), 'written', 'NO_HOLE: zeros written');
  const punched = await e.zeroRange(4 << 20, 2 << 20, true);
  t.ok(punched === 'punched' || punched === 'written', 'large range: hole punched when the file system can');
  const back = Buffer.alloc(8 << 20);
  await e.read(0, back);
  t.ok(back.subarray(100, 1100).every((x) => x === 0));
  t.ok(back.subarray(1 << 20, 3 << 20).every((x) => x === 0));
  t.ok(back.subarray(4 << 20, 6 << 20).every((x) => x === 0));
  t.same(back.subarray(0, 100), pattern(8 << 20, 2).subarray(0, 100), 'bytes outside the ranges are kept');
  t.same(back.subarray(6 << 20), pattern(8 << 20, 2).subarray(6 << 20));
});

t.test('delete removes both files', async (t) => {
  const dir = await tmpDir(t);
  const store = await ExportStore.open(dir);
  t.teardown(() => store.close());
  await store.create('vol-gone', 4096);
  await store.delete('vol-gone');
  t.same(await readdir(dir), []);
  t.equal(store.get('vol-gone'), undefined);
});

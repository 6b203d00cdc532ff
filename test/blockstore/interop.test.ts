// Real NBD clients against our server (specs.md §6 "Real peers", §8.3): nbdinfo, qemu-img, qemu-io, nbdcopy.
// Each tool runs with a hard timeout; absent tools skip the test locally but never in CI.
import t from 'tap';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { pattern, runTool, skipUnlessTool, startStore, tmpDir } from './helpers.ts';

t.test('nbdinfo describes an export and lists them all', { skip: skipUnlessTool('nbdinfo') }, async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-info', 64 << 20);
  await store.createExport('vol-other', 1 << 20);
  const info = await runTool('nbdinfo', ['--json', store.url('vol-info')]);
  t.equal(info.code, 0, info.stderr);
  const j = JSON.parse(info.stdout) as { protocol: string; exports: Record<string, unknown>[] };
  t.match(j.protocol, /newstyle-fixed/);
  t.match(j.exports[0], {
    'export-name': 'vol-info', 'export-size': 64 << 20, is_read_only: false, can_flush: true, can_fua: true,
    can_trim: true, can_zero: true, can_multi_conn: true, block_size_maximum: 32 << 20,
  });
  const list = await runTool('nbdinfo', ['--list', '--json', store.url('')]);
  t.equal(list.code, 0, list.stderr);
  const names = (JSON.parse(list.stdout) as { exports: { 'export-name': string }[] }).exports.map((e) => e['export-name']);
  t.same(names.sort(), ['vol-info', 'vol-other']);
});

t.test('qemu-img info reads the size', { skip: skipUnlessTool('qemu-img') }, async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-qi', 64 << 20);
  const r = await runTool('qemu-img', ['info', '--output=json', store.url('vol-qi')]);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { 'virtual-size': 64 << 20, format: 'raw' });
});

t.test('qemu-io writes a pattern, reads it back, flushes, zeroes and discards', { skip: skipUnlessTool('qemu-io') }, async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-qio', 64 << 20);
  const url = store.url('vol-qio');
  const w = await runTool('qemu-io', ['-f', 'raw', url, '-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k',
    '-c', 'write -f -P 0xcd 1M 4k', '-c', 'flush', '-c', 'write -z -u 64k 64k', '-c', 'discard 2M 1M']);
  t.equal(w.code, 0, w.stderr);
  t.notMatch(w.stdout + w.stderr, /Pattern verification failed|error/i);
  const r = await runTool('qemu-io', ['-f', 'raw', url, '-c', 'read -P 0xab 0 64k', '-c', 'read -P 0 64k 64k',
    '-c', 'read -P 0xcd 1M 4k', '-c', 'read -P 0 2M 1M']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout + r.stderr, /Pattern verification failed/, 'a second connection sees the data');
  t.ok((store.stats()['nbd.cmd.FLUSH'] ?? 0) >= 1, 'qemu sent FLUSH');
});

t.test('nbdcopy copies a file in and out intact', { skip: skipUnlessTool('nbdcopy') }, async (t) => {
  const dir = await tmpDir(t);
  const store = await startStore(t);
  await store.createExport('vol-copy', 4 << 20);
  const src = join(dir, 'in.raw');
  const out = join(dir, 'out.raw');
  const data = pattern(4 << 20, 8);
  await writeFile(src, data);
  const a = await runTool('nbdcopy', [src, store.url('vol-copy')]);
  t.equal(a.code, 0, a.stderr);
  const b = await runTool('nbdcopy', [store.url('vol-copy'), out]);
  t.equal(b.code, 0, b.stderr);
  t.ok(data.equals(await readFile(out)), 'the copy out equals the copy in');
});

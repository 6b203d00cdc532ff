// The suite against our real card over both transports: the `nitrolab card` process over a Unix socket, and the card
// worker over shm rings (as `nitrolab host --embedded-card` runs it). Every mandatory case must pass.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { shmConnector, socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured, startCardProcess, startShmCard, tmpDir } from './helpers.ts';

t.test('our card process over a Unix socket passes every mandatory case, with functions found through the management API', async (t) => {
  const card = await startCardProcess(t);
  const json = path.join(tmpDir(t), 'results.json');
  const r = await runCaptured({ connector: socketConnector(card.linkPath), timeoutMs: 3000, mgmt: { url: card.mgmtUrl, token: card.token }, jsonFile: json });
  t.same(failedIds(r, 'M'), [], 'no mandatory failures');
  t.equal(r.exitCode, 0);
  t.ok(r.functions.some((f) => f.kind === 'nvme'), 'the launched instance gave an NVMe function');
  t.ok(r.records.filter((x) => x.status === 'pass').length >= 110, 'most cases ran and passed');
  t.ok(r.records.filter((x) => x.group === 'MGMT').every((x) => x.status === 'pass'), 'MGMT cases pass');
  t.ok(r.functions.some((f) => f.kind === 'virtio'), 'the launched instance gave a virtio-net function (its ENI)');
  const virtio = r.records.filter((x) => x.group.startsWith('VIRTIO-'));
  t.same(virtio.filter((x) => x.status !== 'pass').map((x) => `${x.id} ${x.status}: ${x.message}`), [], 'every VIRTIO case passes, optional ones too');
  t.ok(virtio.length >= 30, 'VIRTIO-PCI, VIRTIO-RING and VIRTIO-NET cases ran');
  t.match(r.tap, /^TAP version 14\n/);
  t.match(r.tap, /# summary: \d+ passed/);
  const records = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>[];
  t.equal(records.length, r.records.length, 'one JSON record per case');
  t.same(Object.keys(records[0] ?? {}).sort(), ['clause', 'group', 'id', 'level', 'message', 'status']);
});

t.test('our card in a worker thread over shm rings passes every mandatory case', async (t) => {
  const card = await startShmCard(t);
  const r = await runCaptured({ connector: shmConnector(card.hostEnds), timeoutMs: 3000, mgmt: { url: card.mgmtUrl, token: card.token } });
  t.same(failedIds(r, 'M'), [], 'no mandatory failures');
  t.equal(r.exitCode, 0);
  t.ok(r.functions.some((f) => f.kind === 'nvme'));
  t.ok(r.functions.some((f) => f.kind === 'virtio'));
  t.ok(r.records.filter((x) => x.status === 'pass').length >= 110, 'most cases ran and passed');
});

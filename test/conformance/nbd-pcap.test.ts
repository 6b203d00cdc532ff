// The NBD-* cases against our block store (and a server that drops the connection on an unknown option), and the
// CAP-PCAP-* cases against a well-formed capture and a damaged one.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { startBlockStore } from '../../src/blockstore/server.ts';
import { socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured, tmpDir } from './helpers.ts';
import { startBrokenCard } from './fixtures/broken-card.ts';
import { skipUnlessTool, startNbdkit } from '../blockstore/helpers.ts';

async function card(t: Test) {
  const sock = path.join(tmpDir(t), 'card.sock');
  const c = await startBrokenCard(sock, 'none');
  t.teardown(() => c.close());
  return socketConnector(sock);
}

t.test('our block store passes every NBD case', async (t) => {
  const store = await startBlockStore({ dir: tmpDir(t), port: 0 });
  t.teardown(() => store.close());
  await store.createExport('vol-0c0f00000001', 1 << 20);
  const r = await runCaptured({ connector: await card(t), timeoutMs: 3000, only: ['NBD'], nbdUrl: store.url('vol-0c0f00000001') });
  t.same(failedIds(r), []);
  t.equal(r.records.filter((x) => x.status === 'pass').length, 12);
});

t.test('a server that hangs up on an unknown option fails NBD-HS-002', async (t) => {
  const server = net.createServer((s) => {
    const g = Buffer.alloc(18);
    g.writeBigUInt64BE(0x4e42444d41474943n, 0);
    g.writeBigUInt64BE(0x49484156454f5054n, 8);
    g.writeUInt16BE(1, 16);
    s.write(g);
    s.once('data', () => s.once('data', () => s.destroy()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const r = await runCaptured({ connector: await card(t), timeoutMs: 1000, only: ['NBD-HS-001', 'NBD-HS-002'], nbdUrl: `nbd://127.0.0.1:${port}/x` });
  t.same(failedIds(r), ['NBD-HS-002']);
  t.equal(r.exitCode, 1);
});

// NBD-TX's fault: a server that acknowledges every WRITE and keeps nothing (nbdkit's null plugin reads zeros) — the
// lost write a block store must never commit. nbdkit's memory plugin, which keeps data, passes the same cases.
t.test('a server that loses acknowledged writes fails NBD-TX-001; one that keeps them passes', { skip: skipUnlessTool('nbdkit') }, async (t) => {
  const connector = await card(t);
  const lossy = await startNbdkit(t, ['null', 'size=1M']);
  const bad = await runCaptured({ connector, timeoutMs: 3000, only: ['NBD-TX'], nbdUrl: lossy.url });
  t.same(failedIds(bad), ['NBD-TX-001'], 'the lost write is caught, and only that');
  t.equal(bad.exitCode, 1, 'a mandatory failure');
  const keeps = await startNbdkit(t, ['memory', '1M']);
  const good = await runCaptured({ connector, timeoutMs: 3000, only: ['NBD-TX'], nbdUrl: keeps.url });
  t.same(failedIds(good), [], 'nbdkit memory passes NBD-TX');
});

function pcap(records: Buffer[], magic = 0xa1b2c3d4): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(magic, 0); h.writeUInt16LE(2, 4); h.writeUInt16LE(4, 6); h.writeUInt32LE(65535, 16); h.writeUInt32LE(1, 20);
  return Buffer.concat([h, ...records.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000 + i, 0); r.writeUInt32LE(123_456, 4); r.writeUInt32LE(f.length, 8); r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  })]);
}

t.test('a well-formed capture passes CAP-PCAP; a bad magic or a truncated record fails', async (t) => {
  const dir = tmpDir(t);
  const good = path.join(dir, 'good.pcap');
  writeFileSync(good, pcap([Buffer.alloc(60, 1), Buffer.alloc(64, 2)]));
  const connector = await card(t);
  const ok = await runCaptured({ connector, timeoutMs: 1000, only: ['CAP-PCAP'], pcapFile: good });
  t.same(failedIds(ok), []);
  const bad = path.join(dir, 'bad.pcap');
  writeFileSync(bad, pcap([Buffer.alloc(60)], 0x12345678));
  t.ok(failedIds(await runCaptured({ connector: await card(t), timeoutMs: 1000, only: ['CAP-PCAP'], pcapFile: bad })).includes('CAP-PCAP-001'));
  const cut = path.join(dir, 'cut.pcap');
  writeFileSync(cut, pcap([Buffer.alloc(60)]).subarray(0, 24 + 16 + 10));
  t.ok(failedIds(await runCaptured({ connector: await card(t), timeoutMs: 1000, only: ['CAP-PCAP'], pcapFile: cut })).includes('CAP-PCAP-003'));
});

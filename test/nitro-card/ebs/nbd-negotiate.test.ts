// Client handshake: GO with block sizes, structured replies when offered, EXPORT_NAME fallback, refusals.
import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { SocketReader } from '../../../src/blockstore/socket-reader.ts';
import { NBD_FLAG_T } from '../../../src/blockstore/protocol.ts';
import { BackendError } from '../../../src/devices/nvme/backend.ts';
import { negotiateClient } from '../../../src/nitro-card/ebs/nbd-negotiate.ts';
import { startStore, tmpDir, type TapLike, type TestStore } from '../../blockstore/helpers.ts';

async function open(t: TapLike, store: TestStore): Promise<{ socket: Socket; reader: SocketReader }> {
  const a = store.address;
  const socket = a.kind === 'tcp' ? connect({ host: a.host, port: a.port }) : connect({ path: a.socketPath });
  t.teardown(() => { socket.destroy(); });
  return { socket, reader: new SocketReader(socket) };
}

t.test('GO negotiates structured replies, size, flags and block sizes', async (t) => {
  const store = await startStore(t, { maxPayload: 1 << 20 });
  await store.createExport('vol-go', 8 << 20);
  const { socket, reader } = await open(t, store);
  const p = await negotiateClient(socket, reader, 'vol-go', true);
  t.match(p, { exportName: 'vol-go', sizeBytes: 8 << 20, structuredReplies: true, via: 'go', minBlock: 1, preferredBlock: 4096, maxPayload: 1 << 20 });
  t.ok(p.flags & NBD_FLAG_T.SEND_FUA && p.flags & NBD_FLAG_T.SEND_WRITE_ZEROES && p.flags & NBD_FLAG_T.SEND_DF);
});

t.test('without structured replies asked for, they stay off', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-simple', 4096);
  const { socket, reader } = await open(t, store);
  t.match(await negotiateClient(socket, reader, 'vol-simple', false), { structuredReplies: false, via: 'go' });
});

t.test('a server without GO or structured replies is reached through EXPORT_NAME', async (t) => {
  const store = await startStore(t, { features: { go: false, structuredReplies: false } });
  await store.createExport('vol-old', 65536);
  const { socket, reader } = await open(t, store);
  const p = await negotiateClient(socket, reader, 'vol-old', true);
  t.match(p, { sizeBytes: 65536, structuredReplies: false, via: 'export-name', maxPayload: 32 << 20 });
  t.equal(store.stats()['nbd.option.ERR_UNSUP'], 2);
});

t.test('an unknown export is BackendError unavailable naming it', async (t) => {
  const store = await startStore(t);
  const { socket, reader } = await open(t, store);
  const e = await negotiateClient(socket, reader, 'vol-none', true).catch((x: unknown) => x);
  t.type(e, BackendError);
  t.match(e, { kind: 'unavailable', message: /vol-none.*does not exist/ });
});

t.test('an unknown export on a server without GO fails when the server closes', async (t) => {
  const store = await startStore(t, { features: { go: false } });
  const { socket, reader } = await open(t, store);
  await t.rejects(negotiateClient(socket, reader, 'vol-none', true), { kind: 'unavailable', message: /EXPORT_NAME/ });
});

t.test('a peer that is not an NBD server is refused', async (t) => {
  const path = join(await tmpDir(t), 'junk.sock');
  const srv = createServer((s) => { s.end('SSH-2.0-OpenSSH_9.2 hello there\r\n'); });
  await new Promise<void>((r) => srv.listen(path, r));
  t.teardown(() => { srv.close(); });
  const socket = connect({ path });
  t.teardown(() => { socket.destroy(); });
  await t.rejects(negotiateClient(socket, new SocketReader(socket), 'x', true), { kind: 'unavailable', message: /bad greeting/ });
});

// Client transmission against a scripted server: out-of-order replies, chunks, timeouts, protocol violations.
import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { SocketReader } from '../../../src/blockstore/socket-reader.ts';
import { NBD_CMD, NBD_E, NBD_REPLY_FLAG, NBD_REPLY_TYPE } from '../../../src/blockstore/protocol.ts';
import { decodeRequest, encodeChunkHeader, encodeSimpleReply } from '../../../src/blockstore/wire.ts';
import { BackendError } from '../../../src/devices/nvme/backend.ts';
import { NbdTransport, backendErrorFor } from '../../../src/nitro-card/ebs/nbd-transport.ts';
import { tmpDir, type TapLike } from '../../blockstore/helpers.ts';

interface Rig { transport: NbdTransport; server: Socket; serverReader: SocketReader; downs: string[]; counts: string[] }

/** A transport already in transmission, wired to a server socket the test scripts by hand. */
async function rig(t: TapLike, timeoutMs = 0): Promise<Rig> {
  const path = join(await tmpDir(t), 'fake.sock');
  let accept: (s: Socket) => void = () => undefined;
  const accepted = new Promise<Socket>((r) => { accept = r; });
  const srv = createServer((s) => { accept(s); });
  await new Promise<void>((r) => srv.listen(path, r));
  const client = connect({ path });
  const server = await accepted;
  t.teardown(() => { client.destroy(); server.destroy(); srv.close(); });
  const downs: string[] = [];
  const counts: string[] = [];
  const transport = new NbdTransport(client, new SocketReader(client), {
    timeoutMs, count: (n) => counts.push(n), event: (_l, n) => counts.push(n), onDown: (r) => downs.push(r),
  });
  return { transport, server, serverReader: new SocketReader(server), downs, counts };
}

async function nextRequest(r: Rig): Promise<ReturnType<typeof decodeRequest>> {
  const req = decodeRequest(await r.serverReader.readExact(28));
  if (req.type === NBD_CMD.WRITE) await r.serverReader.skip(req.length);
  return req;
}

t.test('replies arriving out of order settle the right requests', async (t) => {
  const r = await rig(t);
  const a = new Uint8Array(4);
  const b = new Uint8Array(4);
  const pa = r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: 0, length: 4, dst: a });
  const pb = r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: 4, length: 4, dst: b });
  const ra = await nextRequest(r);
  const rb = await nextRequest(r);
  t.not(ra.cookie, rb.cookie, 'distinct cookies');
  r.server.write(Buffer.concat([encodeSimpleReply(0, rb.cookie), Buffer.from('BBBB')]));
  r.server.write(Buffer.concat([encodeSimpleReply(0, ra.cookie), Buffer.from('AAAA')]));
  await Promise.all([pa, pb]);
  t.equal(Buffer.from(a).toString(), 'AAAA');
  t.equal(Buffer.from(b).toString(), 'BBBB');
});

t.test('a structured read is assembled from data and hole chunks in any order', async (t) => {
  const r = await rig(t);
  const dst = new Uint8Array(12).fill(0x55);
  const p = r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: 100, length: 12, dst });
  const req = await nextRequest(r);
  const data = encodeChunkHeader(0, NBD_REPLY_TYPE.OFFSET_DATA, req.cookie, 8 + 4, 8 + 4);
  data.writeBigUInt64BE(108n, 20);
  data.write('tail', 28);
  const hole = encodeChunkHeader(0, NBD_REPLY_TYPE.OFFSET_HOLE, req.cookie, 12, 12);
  hole.writeBigUInt64BE(100n, 20);
  hole.writeUInt32BE(8, 28);
  r.server.write(Buffer.concat([data, hole, encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.NONE, req.cookie, 0)]));
  await p;
  t.same(Buffer.from(dst), Buffer.concat([Buffer.alloc(8), Buffer.from('tail')]));
});

t.test('an error chunk or error reply rejects with the mapped BackendError', async (t) => {
  const r = await rig(t);
  const p1 = r.transport.submit({ type: NBD_CMD.WRITE, flags: 0, offset: 0, length: 2, payload: new Uint8Array(2) });
  const p2 = r.transport.submit({ type: NBD_CMD.FLUSH, flags: 0, offset: 0, length: 0 });
  const q1 = await nextRequest(r);
  const q2 = await nextRequest(r);
  const msg = Buffer.from('disk on fire');
  const err = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.ERROR, q1.cookie, 6 + msg.length, 6 + msg.length);
  err.writeUInt32BE(NBD_E.ENOSPC, 20);
  err.writeUInt16BE(msg.length, 24);
  msg.copy(err, 26);
  r.server.write(err);
  r.server.write(encodeSimpleReply(NBD_E.EIO, q2.cookie));
  await t.rejects(p1, { kind: 'range', message: /ENOSPC \(disk on fire\)/ });
  await t.rejects(p2, { kind: 'io', message: /EIO/ });
  t.equal(backendErrorFor(NBD_E.ESHUTDOWN, 'x', '').kind, 'unavailable');
});

t.test('a request times out with BackendError timeout and its late reply is still consumed', async (t) => {
  const r = await rig(t, 20);
  const dst = new Uint8Array(4);
  const slow = r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: 0, length: 4, dst });
  const req = await nextRequest(r);
  await t.rejects(slow, { name: 'BackendError', kind: 'timeout' });
  t.ok(r.counts.includes('nbd.client.timeout'));
  const next = r.transport.submit({ type: NBD_CMD.FLUSH, flags: 0, offset: 0, length: 0 });
  const req2 = await nextRequest(r);
  r.server.write(Buffer.concat([encodeSimpleReply(0, req.cookie), Buffer.from('late'), encodeSimpleReply(0, req2.cookie)]));
  await next;
  t.same([...dst], [0, 0, 0, 0], 'the abandoned buffer is not written');
  t.equal(r.transport.isDown, false, 'the stream stayed in step');
});

t.test('the server going away fails every pending request with unavailable', async (t) => {
  const r = await rig(t);
  const ps = [0, 1, 2].map((i) => r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: i, length: 1, dst: new Uint8Array(1) }));
  await nextRequest(r);
  r.server.destroy();
  for (const p of ps) await t.rejects(p, BackendError);
  for (const p of ps) await t.rejects(p, { name: 'BackendError', kind: 'unavailable' });
  t.equal(r.downs.length, 1, 'onDown called once');
  await t.rejects(r.transport.submit({ type: NBD_CMD.FLUSH, flags: 0, offset: 0, length: 0 }), { name: 'BackendError', kind: 'unavailable' });
});

t.test('protocol violations hard-disconnect: unknown cookie, unknown chunk type, chunk outside the request', async (t) => {
  const cases: [string, (cookie: bigint) => Buffer][] = [
    ['unknown cookie', () => encodeSimpleReply(0, 999n)],
    ['unknown chunk type', (c) => encodeChunkHeader(NBD_REPLY_FLAG.DONE, 77, c, 0)],
    ['chunk outside', (c) => {
      const h = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.OFFSET_HOLE, c, 12, 12);
      h.writeBigUInt64BE(4096n, 20);
      h.writeUInt32BE(512, 28);
      return h;
    }],
    ['bad magic', () => Buffer.alloc(16, 0x11)],
  ];
  for (const [name, reply] of cases) {
    const r = await rig(t);
    const p = r.transport.submit({ type: NBD_CMD.READ, flags: 0, offset: 0, length: 512, dst: new Uint8Array(512) });
    const req = await nextRequest(r);
    r.server.write(reply(req.cookie));
    await t.rejects(p, { name: 'BackendError', kind: 'unavailable' }, name);
    t.ok(r.counts.includes('nbd.client.protocol-error'), `${name}: named event`);
  }
});

t.test('disconnect sends DISC and closes without calling onDown', async (t) => {
  const r = await rig(t);
  r.transport.disconnect();
  const req = await nextRequest(r);
  t.equal(req.type, NBD_CMD.DISC);
  t.same(r.downs, []);
  t.equal(r.transport.isDown, true);
});

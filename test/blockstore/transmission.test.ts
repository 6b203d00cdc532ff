// Server transmission phase, byte by byte (specs.md §6.3): simple and structured replies, errors, ordering, DISC.
import t from 'tap';
import { encodeRequest } from '../../src/blockstore/wire.ts';
import { NBD_CMD, NBD_CMD_FLAG, NBD_E, NBD_REPLY_TYPE } from '../../src/blockstore/protocol.ts';
import { pattern, rawTransmission, startStore, type RawPeer } from './helpers.ts';

function send(p: RawPeer, type: number, cookie: bigint, offset: number, length: number, flags = 0, data?: Buffer): void {
  p.socket.write(encodeRequest({ type, flags, cookie, offset: BigInt(offset), length }));
  if (data !== undefined) p.socket.write(data);
}

async function simple(p: RawPeer): Promise<{ error: number; cookie: bigint }> {
  const h = await p.reader.readExact(16);
  if (h.readUInt32BE(0) !== 0x67446698) throw new Error(`not a simple reply: ${h.toString('hex')}`);
  return { error: h.readUInt32BE(4), cookie: h.readBigUInt64BE(8) };
}

async function chunk(p: RawPeer): Promise<{ flags: number; type: number; cookie: bigint; payload: Buffer }> {
  const h = await p.reader.readExact(20);
  if (h.readUInt32BE(0) !== 0x668e33ef) throw new Error(`not a chunk: ${h.toString('hex')}`);
  const payload = Buffer.from(await p.reader.readExact(h.readUInt32BE(16)));
  return { flags: h.readUInt16BE(4), type: h.readUInt16BE(6), cookie: h.readBigUInt64BE(8), payload };
}

t.test('WRITE, FLUSH and READ with simple replies return the data written', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-s', 1 << 20);
  const p = await rawTransmission(t, store, 'vol-s', false);
  const data = pattern(8192, 3);
  send(p, NBD_CMD.WRITE, 10n, 4096, data.length, NBD_CMD_FLAG.FUA, data);
  t.same(await simple(p), { error: 0, cookie: 10n }, 'FUA write acknowledged');
  send(p, NBD_CMD.FLUSH, 11n, 0, 0);
  t.same(await simple(p), { error: 0, cookie: 11n });
  send(p, NBD_CMD.READ, 12n, 4096, 8192);
  t.same(await simple(p), { error: 0, cookie: 12n });
  t.same(await p.reader.readExact(8192), data);
});

t.test('structured READ answers with OFFSET_DATA, or OFFSET_HOLE for zeros, flagged DONE', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-st', 1 << 20);
  const p = await rawTransmission(t, store, 'vol-st', true);
  const data = pattern(4096, 4);
  send(p, NBD_CMD.WRITE, 1n, 0, 4096, 0, data);
  t.same(await simple(p), { error: 0, cookie: 1n }, 'non-read commands may use simple replies');
  send(p, NBD_CMD.READ, 2n, 0, 4096, NBD_CMD_FLAG.DF);
  const d = await chunk(p);
  t.same([d.type, d.flags, d.cookie], [NBD_REPLY_TYPE.OFFSET_DATA, 1, 2n]);
  t.equal(d.payload.readBigUInt64BE(0), 0n, 'chunk offset');
  t.same(d.payload.subarray(8), data);
  send(p, NBD_CMD.READ, 3n, 65536, 8192);
  const h = await chunk(p);
  t.same([h.type, h.flags, h.payload.readBigUInt64BE(0), h.payload.readUInt32BE(8)], [NBD_REPLY_TYPE.OFFSET_HOLE, 1, 65536n, 8192]);
});

t.test('requests past the end fail with EINVAL (read, trim) or ENOSPC (write, write-zeroes)', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-end', 65536);
  const p = await rawTransmission(t, store, 'vol-end', false);
  send(p, NBD_CMD.READ, 1n, 65536 - 512, 1024);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 1n }, 'a failed READ carries no data');
  send(p, NBD_CMD.WRITE, 2n, 65536, 512, 0, Buffer.alloc(512, 7));
  t.same(await simple(p), { error: NBD_E.ENOSPC, cookie: 2n });
  send(p, NBD_CMD.TRIM, 3n, 0, 1 << 20);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 3n });
  send(p, NBD_CMD.WRITE_ZEROES, 4n, 2 ** 40, 512);
  t.same(await simple(p), { error: NBD_E.ENOSPC, cookie: 4n });
  send(p, NBD_CMD.READ, 5n, 0, 512);
  t.same(await simple(p), { error: 0, cookie: 5n }, 'the stream stayed in step after the refused WRITE');
  t.same(await p.reader.readExact(512), Buffer.alloc(512));
});

t.test('errors are ERROR chunks once structured replies are on', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-e', 65536);
  const p = await rawTransmission(t, store, 'vol-e', true);
  send(p, NBD_CMD.READ, 9n, 65536, 512);
  const e = await chunk(p);
  t.same([e.type, e.flags, e.cookie, e.payload.readUInt32BE(0)], [NBD_REPLY_TYPE.ERROR, 1, 9n, NBD_E.EINVAL]);
  const msgLen = e.payload.readUInt16BE(4);
  t.equal(e.payload.length, 6 + msgLen);
  t.match(e.payload.subarray(6).toString(), /past the end/);
});

t.test('unknown commands, bad flags and oversized payloads get EINVAL', async (t) => {
  const store = await startStore(t, { maxPayload: 65536 });
  await store.createExport('vol-f', 1 << 20);
  const p = await rawTransmission(t, store, 'vol-f', false);
  send(p, 42, 1n, 0, 0);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 1n }, 'unknown command');
  send(p, NBD_CMD.READ, 2n, 0, 512, NBD_CMD_FLAG.FUA);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 2n }, 'FUA on READ');
  send(p, NBD_CMD.WRITE_ZEROES, 3n, 0, 512, NBD_CMD_FLAG.FAST_ZERO);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 3n }, 'FAST_ZERO is not advertised');
  send(p, NBD_CMD.WRITE, 4n, 0, 131072, 0, Buffer.alloc(131072, 1));
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 4n }, 'WRITE above the maximum payload is drained and refused');
  send(p, NBD_CMD.READ, 5n, 0, 131072);
  t.same(await simple(p), { error: NBD_E.EINVAL, cookie: 5n }, 'READ above the maximum payload');
  send(p, NBD_CMD.READ, 6n, 0, 4);
  t.same(await simple(p), { error: 0, cookie: 6n });
  t.same(await p.reader.readExact(4), Buffer.alloc(4), 'nothing of the refused write landed');
});

t.test('commands the server did not advertise are refused', async (t) => {
  const store = await startStore(t, { features: { flush: false, fua: false, trim: false, writeZeroes: false } });
  await store.createExport('vol-plain', 65536);
  const p = await rawTransmission(t, store, 'vol-plain', false);
  send(p, NBD_CMD.FLUSH, 1n, 0, 0);
  send(p, NBD_CMD.TRIM, 2n, 0, 512);
  send(p, NBD_CMD.WRITE_ZEROES, 3n, 0, 512);
  send(p, NBD_CMD.WRITE, 4n, 0, 512, NBD_CMD_FLAG.FUA, Buffer.alloc(512));
  const replies = [await simple(p), await simple(p), await simple(p), await simple(p)];
  t.same(replies.map((r) => r.error), [NBD_E.EINVAL, NBD_E.EINVAL, NBD_E.EINVAL, NBD_E.EINVAL]);
});

t.test('TRIM and WRITE_ZEROES (with NO_HOLE) leave zeros behind', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-zero', 4 << 20);
  const p = await rawTransmission(t, store, 'vol-zero', false);
  send(p, NBD_CMD.WRITE, 1n, 0, 1 << 20, 0, pattern(1 << 20, 5));
  await simple(p);
  send(p, NBD_CMD.WRITE_ZEROES, 2n, 0, 4096, NBD_CMD_FLAG.NO_HOLE | NBD_CMD_FLAG.FUA);
  send(p, NBD_CMD.TRIM, 3n, 4096, 4096);
  t.same([(await simple(p)).error, (await simple(p)).error], [0, 0]);
  send(p, NBD_CMD.READ, 4n, 0, 8192);
  await simple(p);
  t.same(await p.reader.readExact(8192), Buffer.alloc(8192));
});

t.test('many requests in flight are all answered, matched by cookie', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-many', 1 << 20);
  const p = await rawTransmission(t, store, 'vol-many', false);
  const n = 300; // more than the per-connection limit, so reading pauses and resumes
  for (let i = 0; i < n; i++) send(p, NBD_CMD.WRITE, BigInt(1000 + i), i * 512, 512, 0, Buffer.alloc(512, i & 0xff));
  const cookies = new Set<bigint>();
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const r = await simple(p);
    if (r.error !== 0) errors++;
    cookies.add(r.cookie);
  }
  t.equal(errors, 0, 'no request failed');
  t.equal(cookies.size, n, 'every cookie answered exactly once');
  send(p, NBD_CMD.READ, 1n, 299 * 512, 512);
  await simple(p);
  t.same(await p.reader.readExact(512), Buffer.alloc(512, 299 & 0xff));
});

t.test('a bad request magic closes only that connection', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-m', 65536);
  const bad = await rawTransmission(t, store, 'vol-m', false);
  const good = await rawTransmission(t, store, 'vol-m', false);
  bad.socket.write(Buffer.alloc(28, 0xee));
  await bad.closed;
  send(good, NBD_CMD.READ, 1n, 0, 512);
  t.same(await simple(good), { error: 0, cookie: 1n });
  t.equal(store.stats()['nbd.request.bad-magic'], 1);
});

t.test('DISC finishes outstanding requests, sends no reply and closes', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-d', 65536);
  const p = await rawTransmission(t, store, 'vol-d', false);
  send(p, NBD_CMD.WRITE, 1n, 0, 512, NBD_CMD_FLAG.FUA, Buffer.alloc(512, 9));
  send(p, NBD_CMD.DISC, 2n, 0, 0);
  t.same(await simple(p), { error: 0, cookie: 1n }, 'the write before DISC is answered');
  await p.closed;
  t.equal(p.reader.buffered, 0, 'nothing after it');
  const q = await rawTransmission(t, store, 'vol-d', false);
  send(q, NBD_CMD.READ, 3n, 0, 512);
  await simple(q);
  t.same(await q.reader.readExact(512), Buffer.alloc(512, 9));
});

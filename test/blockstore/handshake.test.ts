// Server handshake, byte by byte (specs.md §6.2): greeting, options, and what ends a connection.
import t from 'tap';
import { encodeInfoRequest, encodeOption } from '../../src/blockstore/wire.ts';
import { NBD_FLAG_T, NBD_INFO, NBD_OPT, NBD_REP } from '../../src/blockstore/protocol.ts';
import { greet, rawConnect, readOptionReply, readUntilFinal, startStore } from './helpers.ts';

const EBS_FLAGS = NBD_FLAG_T.HAS_FLAGS | NBD_FLAG_T.SEND_FLUSH | NBD_FLAG_T.SEND_FUA | NBD_FLAG_T.SEND_TRIM |
  NBD_FLAG_T.SEND_WRITE_ZEROES | NBD_FLAG_T.CAN_MULTI_CONN;

t.test('the greeting is NBDMAGIC, IHAVEOPT and FIXED_NEWSTYLE|NO_ZEROES (worked bytes)', async (t) => {
  const store = await startStore(t);
  const p = await rawConnect(t, store);
  t.same(await p.reader.readExact(18), Buffer.from('4E42444D414749434948415645 4F5054 0003'.replace(/ /g, ''), 'hex'));
});

t.test('unknown client flags close the connection', async (t) => {
  const store = await startStore(t);
  const p = await rawConnect(t, store);
  await greet(p, 0x80);
  await p.closed;
  t.equal(store.stats()['nbd.handshake.unknown-client-flags'], 1);
});

t.test('an unknown option gets NBD_REP_ERR_UNSUP and the server keeps parsing', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-a', 4096);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(99, Buffer.from('junk')));
  const r = await readOptionReply(p);
  t.same([r.option, r.replyType], [99, NBD_REP.ERR_UNSUP]);
  p.socket.write(encodeOption(NBD_OPT.STARTTLS));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ERR_UNSUP, 'no TLS: STARTTLS is unsupported too');
  p.socket.write(encodeOption(NBD_OPT.LIST));
  const list = await readUntilFinal(p);
  t.same(list.map((x) => x.replyType), [NBD_REP.SERVER, NBD_REP.ACK], 'the next option is answered');
  t.equal(store.stats()['nbd.option.ERR_UNSUP'], 2);
});

t.test('LIST sends one REP_SERVER per export, then ACK', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-1', 4096);
  await store.createExport('vol-2', 8192);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(NBD_OPT.LIST));
  const replies = await readUntilFinal(p);
  const names = replies.filter((r) => r.replyType === NBD_REP.SERVER).map((r) => r.data.subarray(4, 4 + r.data.readUInt32BE(0)).toString());
  t.same(names.sort(), ['vol-1', 'vol-2']);
  t.equal(replies.at(-1)?.replyType, NBD_REP.ACK);
  p.socket.write(encodeOption(NBD_OPT.LIST, Buffer.from('x')));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ERR_INVALID, 'LIST with data is invalid');
});

t.test('INFO answers EXPORT and BLOCK_SIZE, then GO enters transmission', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-info', 1 << 20);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(NBD_OPT.INFO, encodeInfoRequest('vol-info', [NBD_INFO.BLOCK_SIZE, NBD_INFO.NAME])));
  const replies = await readUntilFinal(p);
  const exp = replies.find((r) => r.replyType === NBD_REP.INFO && r.data.readUInt16BE(0) === NBD_INFO.EXPORT);
  t.equal(exp?.data.length, 12);
  t.equal(exp?.data.readBigUInt64BE(2), 1n << 20n, 'size');
  t.equal(exp?.data.readUInt16BE(10), EBS_FLAGS, 'EBS-like transmission flags');
  const bs = replies.find((r) => r.replyType === NBD_REP.INFO && r.data.readUInt16BE(0) === NBD_INFO.BLOCK_SIZE);
  t.same([bs?.data.readUInt32BE(2), bs?.data.readUInt32BE(6), bs?.data.readUInt32BE(10)], [1, 4096, 32 << 20]);
  const name = replies.find((r) => r.replyType === NBD_REP.INFO && r.data.readUInt16BE(0) === NBD_INFO.NAME);
  t.equal(name?.data.subarray(2).toString(), 'vol-info');
  t.equal(replies.at(-1)?.replyType, NBD_REP.ACK);

  p.socket.write(encodeOption(NBD_OPT.STRUCTURED_REPLY));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ACK);
  p.socket.write(encodeOption(NBD_OPT.GO, encodeInfoRequest('vol-info', [])));
  const go = await readUntilFinal(p);
  t.equal(go.at(-1)?.replyType, NBD_REP.ACK);
  t.equal(go[0]?.data.readUInt16BE(10), EBS_FLAGS | NBD_FLAG_T.SEND_DF, 'DF offered once structured replies are on');
});

t.test('GO for an unknown export gets NBD_REP_ERR_UNKNOWN and haggling continues', async (t) => {
  const store = await startStore(t);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(NBD_OPT.GO, encodeInfoRequest('vol-nope', [])));
  const r = await readOptionReply(p);
  t.equal(r.replyType, NBD_REP.ERR_UNKNOWN);
  t.match(r.data.toString(), /vol-nope/);
  p.socket.write(encodeOption(NBD_OPT.GO, Buffer.from([0, 0, 0, 9])));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ERR_INVALID, 'malformed GO data');
  p.socket.write(encodeOption(NBD_OPT.ABORT));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ACK, 'ABORT is acknowledged');
  await p.closed;
});

t.test('EXPORT_NAME answers size, flags and 124 zeros unless NO_ZEROES was agreed', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-old', 65536);
  const a = await rawConnect(t, store);
  await greet(a, 1);
  a.socket.write(encodeOption(NBD_OPT.EXPORT_NAME, Buffer.from('vol-old')));
  const r = await a.reader.readExact(10 + 124);
  t.equal(r.readBigUInt64BE(0), 65536n);
  t.equal(r.readUInt16BE(8), EBS_FLAGS);
  t.ok(r.subarray(10).every((x) => x === 0), '124 zero bytes');

  const b = await rawConnect(t, store);
  await greet(b, 3);
  b.socket.write(encodeOption(NBD_OPT.EXPORT_NAME, Buffer.from('vol-old')));
  t.equal((await b.reader.readExact(10)).readBigUInt64BE(0), 65536n);
  t.equal(b.reader.buffered, 0, 'no padding with NO_ZEROES');
});

t.test('EXPORT_NAME for an unknown export closes the connection', async (t) => {
  const store = await startStore(t);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(NBD_OPT.EXPORT_NAME, Buffer.from('vol-missing')));
  await p.closed;
  t.equal(store.stats()['nbd.export-name.unknown'], 1);
});

t.test('a bad option magic or an oversized option closes only that connection', async (t) => {
  const store = await startStore(t);
  await store.createExport('vol-ok', 4096);
  const bad = await rawConnect(t, store);
  const good = await rawConnect(t, store);
  await greet(bad);
  await greet(good);
  bad.socket.write(Buffer.alloc(16, 0x41));
  await bad.closed;
  const big = await rawConnect(t, store);
  await greet(big);
  const h = encodeOption(NBD_OPT.LIST);
  h.writeUInt32BE(1 << 30, 12);
  big.socket.write(h);
  await big.closed;
  good.socket.write(encodeOption(NBD_OPT.LIST));
  t.equal((await readUntilFinal(good)).at(-1)?.replyType, NBD_REP.ACK, 'the other connection is still served');
  t.equal(store.stats()['nbd.option.bad-magic'], 1);
  t.equal(store.stats()['nbd.option.too-big'], 1);
  t.ok(store.logs.some((l) => l.obj.event === 'nbd.option.bad-magic' && l.level === 'warn'), 'named log event');
});

t.test('with GO and structured replies switched off they are unsupported', async (t) => {
  const store = await startStore(t, { features: { go: false, structuredReplies: false } });
  await store.createExport('vol-x', 4096);
  const p = await rawConnect(t, store);
  await greet(p);
  p.socket.write(encodeOption(NBD_OPT.STRUCTURED_REPLY));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ERR_UNSUP);
  p.socket.write(encodeOption(NBD_OPT.GO, encodeInfoRequest('vol-x', [])));
  t.equal((await readOptionReply(p)).replyType, NBD_REP.ERR_UNSUP);
});

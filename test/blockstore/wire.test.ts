// NBD codecs: the worked bytes of specs.md §6 and round trips of every message.
import t from 'tap';
import {
  decodeChunkHeader, decodeGreeting, decodeInfoRequest, decodeOptionHeader, decodeOptionReply, decodeRequest,
  decodeSimpleReply, encodeChunkHeader, encodeGreeting, encodeInfoRequest, encodeOption, encodeOptionReply,
  encodeRequest, encodeSimpleReply,
} from '../../src/blockstore/wire.ts';
import { NBD_CMD, NBD_FLAG, NBD_INFO, NBD_OPT, NBD_REP, NBD_REPLY_FLAG, NBD_REPLY_TYPE } from '../../src/blockstore/protocol.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('server greeting with both handshake flags matches the worked bytes', async (t) => {
  const b = encodeGreeting(NBD_FLAG.FIXED_NEWSTYLE | NBD_FLAG.NO_ZEROES);
  t.same(b, hex('4E 42 44 4D 41 47 49 43 49 48 41 56 45 4F 50 54 00 03'));
  t.same(decodeGreeting(b), { handshakeFlags: 3 });
  const bad = Buffer.from(b);
  bad[0] = 0;
  t.equal(decodeGreeting(bad), null, 'wrong NBDMAGIC is rejected');
});

t.test('NBD_OPT_GO for the default export with no info requests matches the worked bytes', async (t) => {
  const b = encodeOption(NBD_OPT.GO, encodeInfoRequest('', []));
  t.same(b, hex('49 48 41 56 45 4F 50 54 00 00 00 07 00 00 00 06 00 00 00 00 00 00'));
  t.same(decodeOptionHeader(b), { magicOk: true, option: 7, length: 6 });
});

t.test('READ of 4 KiB at offset 0 with cookie 1 matches the worked bytes', async (t) => {
  const b = encodeRequest({ flags: 0, type: NBD_CMD.READ, cookie: 1n, offset: 0n, length: 4096 });
  t.same(b, hex('25 60 95 13 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 10 00'));
  t.same(decodeRequest(b), { magic: 0x25609513, flags: 0, type: 0, cookie: 1n, offset: 0n, length: 4096 });
});

t.test('a request round-trips 64-bit cookies and offsets exactly', async (t) => {
  const r = { flags: 1, type: NBD_CMD.WRITE, cookie: 0xfedcba9876543210n, offset: 0x1_0000_0200n, length: 512 };
  t.same(decodeRequest(encodeRequest(r)), { magic: 0x25609513, ...r });
});

t.test('INFO/GO data round-trips and malformed lengths are refused', async (t) => {
  const b = encodeInfoRequest('vol-1', [NBD_INFO.BLOCK_SIZE, NBD_INFO.NAME]);
  t.same(decodeInfoRequest(b), { exportName: 'vol-1', infoTypes: [3, 1] });
  t.equal(decodeInfoRequest(b.subarray(0, b.length - 1)), null, 'truncated info list');
  t.equal(decodeInfoRequest(Buffer.concat([b, Buffer.alloc(2)])), null, 'trailing bytes');
  const lying = Buffer.from(b);
  lying.writeUInt32BE(1000, 0);
  t.equal(decodeInfoRequest(lying), null, 'name length beyond the data');
  t.equal(decodeInfoRequest(Buffer.alloc(3)), null, 'shorter than the fixed part');
});

t.test('option replies carry the reply magic, option, type and data', async (t) => {
  const b = encodeOptionReply(NBD_OPT.LIST, NBD_REP.ERR_UNSUP, Buffer.from('no'));
  t.same(b.subarray(0, 8), hex('00 03 e8 89 04 55 65 a9'));
  t.same(decodeOptionReply(b), { magicOk: true, option: 3, replyType: 0x80000001, length: 2 });
  t.equal(b.subarray(20).toString(), 'no');
});

t.test('simple replies and structured chunk headers decode to what was encoded', async (t) => {
  const s = encodeSimpleReply(22, 7n);
  t.same(s.subarray(0, 4), hex('67 44 66 98'));
  t.match(decodeSimpleReply(s), { kind: 'simple', error: 22, cookie: 7n });
  const c = encodeChunkHeader(NBD_REPLY_FLAG.DONE, NBD_REPLY_TYPE.OFFSET_HOLE, 9n, 12, 12);
  t.equal(c.length, 32, 'room for the payload follows the header');
  t.same(c.subarray(0, 4), hex('66 8e 33 ef'));
  t.match(decodeChunkHeader(c), { kind: 'chunk', flags: 1, type: 2, cookie: 9n, length: 12 });
});

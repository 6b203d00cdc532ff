// NBD wire structures against the sizes and offsets in specs.md §6.2–6.3.
import t from 'tap';
import {
  NbdGreeting, NbdOptionHeader, NbdOptionReply, NbdExportNameReply, NbdInfoExport, NbdInfoBlockSize, NbdRequest,
  NbdSimpleReply, NbdStructuredReply, NBD_REP, NBD_E, NBD_CMD, isRepError, isChunkError, mnemonic, NBD_REPLY_TYPE,
} from '../../src/blockstore/protocol.ts';

t.test('handshake structures have the spec sizes and offsets', async (t) => {
  t.equal(NbdGreeting.size, 18);
  t.same(NbdGreeting.offset, { nbdMagic: 0, optMagic: 8, handshakeFlags: 16 });
  t.same(NbdOptionHeader.offset, { magic: 0, option: 8, length: 12 });
  t.equal(NbdOptionHeader.size, 16);
  t.same(NbdOptionReply.offset, { magic: 0, option: 8, replyType: 12, length: 16 });
  t.equal(NbdOptionReply.size, 20);
  t.same(NbdExportNameReply.offset, { size: 0, transmissionFlags: 8 });
  t.equal(NbdInfoExport.size, 12, 'REP_INFO EXPORT length is 12');
  t.equal(NbdInfoBlockSize.size, 14, 'REP_INFO BLOCK_SIZE length is 14');
  t.same(NbdInfoBlockSize.offset, { infoType: 0, minimum: 2, preferred: 6, maximum: 10 });
});

t.test('transmission structures have the spec sizes and offsets', async (t) => {
  t.equal(NbdRequest.size, 28);
  t.same(NbdRequest.offset, { magic: 0, flags: 4, type: 6, cookie: 8, offset: 16, length: 24 });
  t.equal(NbdSimpleReply.size, 16);
  t.same(NbdSimpleReply.offset, { magic: 0, error: 4, cookie: 8 });
  t.equal(NbdStructuredReply.size, 20);
  t.same(NbdStructuredReply.offset, { magic: 0, flags: 4, type: 6, cookie: 8, length: 16 });
});

t.test('error reply types have bit 31 set and error chunks bit 15', async (t) => {
  t.equal(NBD_REP.ERR_UNSUP, 0x80000001);
  t.equal(NBD_REP.ERR_UNKNOWN, 0x80000006);
  t.ok(isRepError(NBD_REP.ERR_TOO_BIG));
  t.notOk(isRepError(NBD_REP.INFO));
  t.ok(isChunkError(NBD_REPLY_TYPE.ERROR_OFFSET));
  t.notOk(isChunkError(NBD_REPLY_TYPE.OFFSET_HOLE));
});

t.test('mnemonic names a value as the spec writes it', async (t) => {
  t.equal(mnemonic(NBD_E, 28), 'ENOSPC');
  t.equal(mnemonic(NBD_CMD, 6), 'WRITE_ZEROES');
  t.equal(mnemonic(NBD_CMD, 99), '99');
});

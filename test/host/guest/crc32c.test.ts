// CRC-32C check value from the Castagnoli / iSCSI test vectors.
import t from 'tap';
import { crc32c } from '../../../src/host/guest/crc32c.ts';

t.test('crc32c("123456789") is 0xE3069283 and chaining equals one pass', async (t) => {
  const data = new TextEncoder().encode('123456789');
  t.equal(crc32c(data), 0xe306_9283);
  t.equal(crc32c(data.subarray(4), crc32c(data.subarray(0, 4))), 0xe306_9283);
  t.equal(crc32c(new Uint8Array(32)), 0x8a91_36aa);
});

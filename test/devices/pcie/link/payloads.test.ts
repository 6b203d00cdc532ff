// Fixed payload encoders/decoders against the layouts of messages.ts.
import t from 'tap';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { DmaMap, RegionAccess } from '../../../../src/devices/pcie/link/messages.ts';
import {
  decodeDmaAccess, decodeDmaMap, decodeDmaUnmap, decodeMsix, decodeRegionAccess, encodeDmaAccess, encodeDmaMap, encodeDmaUnmap,
  encodeMsix, encodeRegionAccess, regionValue,
} from '../../../../src/devices/pcie/link/payloads.ts';

t.test('a region write carries offset, region, count and a little-endian value', async (t) => {
  const b = encodeRegionAccess(0x1_0000_0010, 7, 2, 0xbeef).slice();
  t.equal(b.byteLength, RegionAccess.size + 2);
  t.same([...b], [0x10, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 0xef, 0xbe]);
  const a = decodeRegionAccess(b);
  t.same([a.offset, a.region, a.count, regionValue(a)], [0x1_0000_0010, 7, 2, 0xbeef]);
});

t.test('odd access sizes and short payloads are EINVAL', async (t) => {
  t.throws(() => regionValue(decodeRegionAccess(encodeRegionAccess(0, 0, 3, 0).slice())), LinkError);
  t.throws(() => decodeRegionAccess(new Uint8Array(8)), LinkError);
  t.throws(() => decodeDmaMap(new Uint8Array(24)), LinkError);
});

t.test('DMA, DMA_MAP/UNMAP and MSIX payloads round-trip', async (t) => {
  t.same(decodeDmaAccess(encodeDmaAccess(0x1234_5678_9a, 4096).slice()).count, 4096);
  const m = { flags: 3, memId: 2, iova: 0x10000, size: 0x2000, gpa: 0x8000 };
  const mb = encodeDmaMap(m);
  t.equal(mb.byteLength, DmaMap.size);
  t.same(decodeDmaMap(mb), m);
  t.same(decodeDmaUnmap(encodeDmaUnmap(0x10000, 0x2000)), { iova: 0x10000, size: 0x2000 });
  t.same(decodeMsix(encodeMsix(0xfee0_0000, 0x41, 3).slice()), { address: 0xfee0_0000, data: 0x41, vector: 3 });
});

t.test('a u64 above 2^53 is ERANGE, not a silent rounding', async (t) => {
  const b = encodeDmaAccess(0, 1).slice();
  b[7] = 0xff;
  t.throws(() => decodeDmaAccess(b), LinkError);
});

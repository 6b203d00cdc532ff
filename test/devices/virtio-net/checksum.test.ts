// RFC 1071 ones'-complement sums and NEEDS_CSUM completion.
import t from 'tap';
import { completeChecksum, onesComplementSum } from '../../../src/devices/virtio-net/checksum.ts';

t.test('onesComplementSum folds carries (RFC 1071 §3 example)', async (t) => {
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  t.equal(onesComplementSum(b, 0, b.length), 0xddf2);
  t.equal(onesComplementSum(Uint8Array.of(0xff, 0xff, 0x00, 0x01), 0, 4), 0x0001, 'end-around carry');
  t.equal(onesComplementSum(Uint8Array.of(0x12, 0x34, 0x56), 0, 3), 0x6834, 'odd tail padded with zero');
  t.equal(onesComplementSum(Uint8Array.of(0x12, 0x34), 0, 2, 0xffff), 0x1234, 'initial value added in');
});

t.test('the IPv4 header example checksums to b861', async (t) => {
  const hdr = Uint8Array.of(0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7);
  t.equal(completeChecksum(hdr, 0, 10), true);
  t.same([hdr[10], hdr[11]], [0xb8, 0x61]);
  t.equal(onesComplementSum(hdr, 0, hdr.length), 0xffff, 'the completed header verifies');
});

t.test('a result of 0 is stored as 0xFFFF', async (t) => {
  const f = Uint8Array.of(0xff, 0xff, 0x00, 0x00); // sum 0xffff → complement 0
  t.equal(completeChecksum(f, 0, 2), true);
  t.same([f[2], f[3]], [0xff, 0xff]);
});

t.test('a checksum field outside the frame is refused and nothing changes', async (t) => {
  const f = Uint8Array.of(1, 2, 3, 4);
  t.equal(completeChecksum(f, 4, 0), false);
  t.equal(completeChecksum(f, 1, 2), false);
  t.same([...f], [1, 2, 3, 4]);
});

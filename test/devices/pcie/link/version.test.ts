// VERSION payload codec and negotiation rules.
import t from 'tap';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { LINK_VERSION, LinkErrno, MAX_DATA_XFER } from '../../../../src/devices/pcie/link/messages.ts';
import { DEFAULT_CAPS, decodeVersion, encodeVersion, negotiateVersion } from '../../../../src/devices/pcie/link/version.ts';

t.test('a VERSION payload is u16 major, u16 minor, NUL-terminated JSON, and round-trips', async (t) => {
  const b = encodeVersion({ major: 1, minor: 0, caps: DEFAULT_CAPS });
  t.same([...b.subarray(0, 4)], [1, 0, 0, 0]);
  t.equal(b[b.length - 1], 0);
  t.same(decodeVersion(b), { major: 1, minor: 0, caps: DEFAULT_CAPS });
});

t.test('missing capabilities take defaults; bad ones are EINVAL', async (t) => {
  t.same(decodeVersion(new Uint8Array([1, 0, 0, 0])).caps, DEFAULT_CAPS);
  const bad = new TextEncoder().encode('xx{"capabilities":{"max_data_xfer_size":-1}}');
  bad[0] = 1; bad[1] = 0; bad[2] = 0; bad[3] = 0;
  t.throws(() => decodeVersion(bad), LinkError);
  t.throws(() => decodeVersion(new Uint8Array(2)), LinkError);
});

t.test('negotiation keeps the major, takes the smaller minor and limits, and refuses another major', async (t) => {
  const v = negotiateVersion({ major: LINK_VERSION.major, minor: 9, caps: { max_data_xfer_size: 1 << 30, max_dma_maps: 8, pgsizes: 0x1000 | 0x200000 } });
  t.same(v, { major: LINK_VERSION.major, minor: LINK_VERSION.minor, caps: { max_data_xfer_size: MAX_DATA_XFER, max_dma_maps: 8, pgsizes: 0x1000 } });
  let e: unknown;
  try { negotiateVersion({ major: 2, minor: 0, caps: DEFAULT_CAPS }); } catch (x) { e = x; }
  t.equal((e as LinkError).errno, LinkErrno.ENOTSUP);
});

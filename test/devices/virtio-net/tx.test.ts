// readTxFrame: header stripping, drops, checksum completion, short chains.
import t from 'tap';
import { FakeHost } from '../../helpers/fake-host.ts';
import { GuestVirtq } from '../../helpers/virtq.ts';
import { RingError, Virtqueue } from '../../../src/devices/virtio-net/queue.ts';
import { MAX_FRAME, readTxFrame } from '../../../src/devices/virtio-net/tx.ts';
import { NetHdrFlags } from '../../../src/devices/virtio-net/regs.ts';
import { frameOf, netHdr } from './fixtures/harness.ts';

function rig(): { g: GuestVirtq; q: Virtqueue } {
  const host = new FakeHost(1 << 20);
  const g = new GuestVirtq(host, 0x1000, 8, 0x10000, 0x30000);
  return { g, q: new Virtqueue(1, { size: 8, desc: g.desc, avail: g.avail, used: g.used, eventIdx: false, indirect: false }, host.dma) };
}

t.test('the header is stripped and the frame returned', async (t) => {
  const { g, q } = rig();
  g.post([{ data: netHdr() }, { data: frameOf(64) }]);
  const out = await readTxFrame(q, (await q.popChain())!, false);
  t.equal(out.kind, 'frame');
  if (out.kind === 'frame') t.same([...out.frame], [...frameOf(64)]);
});

t.test('a header split across descriptors is still read', async (t) => {
  const { g, q } = rig();
  const hdr = netHdr({ flags: NetHdrFlags.NEEDS_CSUM, csumStart: 0, csumOffset: 2 });
  const frame = Uint8Array.of(0xff, 0xff, 0, 0);
  g.post([{ data: hdr.subarray(0, 5) }, { data: hdr.subarray(5) }, { data: frame }]);
  const out = await readTxFrame(q, (await q.popChain())!, true);
  t.same(out.kind === 'frame' ? [...out.frame] : out, [0xff, 0xff, 0xff, 0xff], 'checksum over ffff 0000 completes to 0, stored as ffff');
});

t.test('empty and oversize frames are dropped without reading them', async (t) => {
  const { g, q } = rig();
  g.post([{ data: netHdr() }]);
  t.same(await readTxFrame(q, (await q.popChain())!, false), { kind: 'drop', reason: 'empty' });
  g.setDesc(5, { addr: 0x10000, len: 12 + MAX_FRAME + 1 });
  g.publish(5);
  t.same(await readTxFrame(q, (await q.popChain())!, false), { kind: 'drop', reason: 'oversize' });
});

t.test('a chain shorter than the header is a ring error', async (t) => {
  const { g, q } = rig();
  g.post([{ data: new Uint8Array(11) }]);
  const err = await readTxFrame(q, (await q.popChain())!, false).then(() => null, (e: unknown) => e);
  t.ok(err instanceof RingError && err.reason === 'tx-header-short');
});

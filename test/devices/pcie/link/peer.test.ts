// LinkPeer over both transports: request/reply matching (also out of order), posted ordering and batching, error
// replies (unknown command, handler errors, oversize), timeouts on an injected clock, link-down, protocol errors.
import t from 'tap';
import { FakeHost } from '../../../helpers/fake-host.ts';
import { encodeFrame } from '../../../../src/devices/pcie/link/codec.ts';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { LinkCmd, LinkErrno, LinkFlag, MAX_PAYLOAD } from '../../../../src/devices/pcie/link/messages.ts';
import { TRANSPORTS, peerPair, rawPair, until } from './helpers.ts';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

for (const kind of TRANSPORTS) {
  t.test(`${kind}: a request resolves with the reply the handler returned`, async (t) => {
    const { host, card } = await peerPair(t, kind);
    card.onRequest((f) => bytes(f.payload[0] ?? 0, 42));
    const r = await host.request(LinkCmd.REGION_READ, 3, bytes(7));
    t.same([...r.payload], [7, 42]);
    t.equal(r.fn, 3);
    t.equal(r.cmd, LinkCmd.REGION_READ);
    t.ok(r.flags & LinkFlag.REPLY);
  });

  t.test(`${kind}: replies arriving out of order resolve their own requests`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    const ps = [1, 2, 3].map((i) => peer.request(LinkCmd.REGION_READ, i, bytes(i)));
    const reqs = await raw.waitFrames(3);
    for (const f of [...reqs].reverse()) {
      raw.send({ msgId: f.msgId, cmd: f.cmd, fn: f.fn, flags: LinkFlag.REPLY, error: 0, payload: bytes((f.payload[0] ?? 0) * 10) });
    }
    const replies = await Promise.all(ps);
    t.same(replies.map((r) => r.payload[0]), [10, 20, 30]);
  });

  t.test(`${kind}: a LinkError thrown by the handler becomes an error reply with its errno`, async (t) => {
    const { host, card } = await peerPair(t, kind);
    card.onRequest(() => { throw new LinkError(LinkErrno.EFAULT); });
    const e = await host.request(LinkCmd.DMA_READ, 1).catch((x: unknown) => x);
    t.type(e, LinkError);
    t.equal((e as LinkError).errno, LinkErrno.EFAULT);
    t.equal((e as LinkError).code, 'EFAULT');
  });

  t.test(`${kind}: a handler bug is answered EIO and the link stays up`, async (t) => {
    const { host, card } = await peerPair(t, kind);
    card.onRequest((f) => { if (f.fn === 1) throw new TypeError('bug'); });
    const e = await host.request(LinkCmd.REGION_READ, 1).catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.EIO);
    await host.request(LinkCmd.REGION_READ, 2);
    t.ok(card.isUp);
  });

  t.test(`${kind}: an unknown command gets an ENOSYS error reply and is counted`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    peer.onRequest(() => undefined);
    raw.send({ msgId: 9, cmd: 0x7777, fn: 1, flags: 0, error: 0 });
    const [f] = await raw.waitFrames(1);
    t.same({ msgId: f?.msgId, cmd: f?.cmd, flags: f?.flags, error: f?.error },
      { msgId: 9, cmd: 0x7777, flags: LinkFlag.REPLY | LinkFlag.ERROR, error: LinkErrno.ENOSYS });
    t.equal(f?.payload.byteLength, 0, 'an error reply carries only the header');
    t.equal(peer.stats.unknownCommands, 1);
  });

  t.test(`${kind}: a known command without a handler gets ENOSYS; PING is answered by the peer itself`, async (t) => {
    const { host } = await peerPair(t, kind);
    const e = await host.request(LinkCmd.REGION_READ, 1).catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.ENOSYS);
    const pong = await host.request(LinkCmd.PING, 0xffff);
    t.equal(pong.payload.byteLength, 0);
  });

  t.test(`${kind}: posted frames arrive in order, and those queued in one tick go out in one write`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    const writesBefore = peer.stats.writes;
    for (let i = 0; i < 50; i++) peer.post(LinkCmd.DMA_WRITE, 1, bytes(i));
    peer.post(LinkCmd.MSIX, 1, bytes(99));
    const frames = await raw.waitFrames(51);
    t.same(frames.map((f) => f.payload[0]), [...Array.from({ length: 50 }, (_, i) => i), 99]);
    t.ok(frames.every((f) => f.flags === LinkFlag.NO_REPLY));
    t.equal(peer.stats.writes - writesBefore, 1, 'one transport write for the batch');
  });

  t.test(`${kind}: a posted frame that fails is reported back as a posted error`, async (t) => {
    const { host, card } = await peerPair(t, kind);
    card.onRequest(() => { throw new LinkError(LinkErrno.EFAULT); });
    const errs: number[] = [];
    host.on('posted-error', (f) => errs.push(f.error));
    const id = host.post(LinkCmd.DMA_WRITE, 1, bytes(1));
    t.ok(id > 0);
    await until(() => errs.length === 1);
    t.same(errs, [LinkErrno.EFAULT]);
  });

  t.test(`${kind}: a request times out with ETIMEDOUT on the injected clock; a late reply is counted unmatched`, async (t) => {
    const fake = new FakeHost(4096);
    const { peer, raw } = await rawPair(t, kind, { clock: fake.clock, timeoutMs: 1000 });
    const p = peer.request(LinkCmd.REGION_READ, 1);
    const [req] = await raw.waitFrames(1);
    fake.advance(999);
    t.equal(peer.pendingRequests, 1, 'not yet timed out');
    fake.advance(1);
    const e = await p.catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.ETIMEDOUT);
    t.equal(peer.stats.timeouts, 1);
    raw.send({ msgId: req?.msgId ?? 0, cmd: LinkCmd.REGION_READ, fn: 1, flags: LinkFlag.REPLY, error: 0 });
    await until(() => peer.stats.unmatchedReplies === 1);
    t.pass('late reply ignored and counted');
  });

  t.test(`${kind}: link down rejects pending requests with ECONNRESET and fires 'down' once`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    const downs: string[] = [];
    peer.on('down', (r) => downs.push(r));
    const p1 = peer.request(LinkCmd.REGION_READ, 1);
    const p2 = peer.request(LinkCmd.REGION_READ, 2);
    await raw.waitFrames(2);
    raw.transport.close();
    const errs = await Promise.all([p1, p2].map((p) => p.catch((x: unknown) => x)));
    t.same(errs.map((e) => (e as LinkError).errno), [LinkErrno.ECONNRESET, LinkErrno.ECONNRESET]);
    t.equal(downs.length, 1);
    t.notOk(peer.isUp);
    const late = await peer.request(LinkCmd.PING, 0xffff).catch((x: unknown) => x);
    t.equal((late as LinkError).errno, LinkErrno.ECONNRESET, 'requests after down reject at once');
  });

  t.test(`${kind}: an oversize request is answered EMSGSIZE without buffering it, and the link keeps working`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    peer.onRequest(() => bytes(1));
    const big = new Uint8Array(16 + MAX_PAYLOAD + 1);
    big.set(encodeFrame({ msgId: 55, cmd: LinkCmd.REGION_WRITE, fn: 1, flags: 0, error: 0 }).subarray(0, 16));
    new DataView(big.buffer).setUint32(8, big.byteLength, true);
    raw.sendBytes(big);
    raw.send({ msgId: 56, cmd: LinkCmd.REGION_READ, fn: 1, flags: 0, error: 0 });
    const frames = await raw.waitFrames(2);
    t.same(frames.map((f) => [f.msgId, f.flags, f.error]), [[55, LinkFlag.REPLY | LinkFlag.ERROR, LinkErrno.EMSGSIZE], [56, LinkFlag.REPLY, 0]]);
    t.equal(peer.stats.oversize, 1);
  });

  t.test(`${kind}: a frame whose size is below 16 is a protocol error that closes the link`, async (t) => {
    const { peer, raw } = await rawPair(t, kind);
    const p = peer.request(LinkCmd.REGION_READ, 1);
    const bad = new Uint8Array(16);
    bad[8] = 4;
    raw.sendBytes(bad);
    const e = await p.catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.ECONNRESET);
    t.equal(peer.stats.protocolErrors, 1);
    t.notOk(peer.isUp);
  });

  t.test(`${kind}: a request larger than MAX_PAYLOAD is refused locally with EMSGSIZE`, async (t) => {
    const { host } = await peerPair(t, kind);
    const e = await host.request(LinkCmd.REGION_WRITE, 1, new Uint8Array(MAX_PAYLOAD + 1)).catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.EMSGSIZE);
    t.throws(() => host.post(LinkCmd.REGION_WRITE, 1, new Uint8Array(MAX_PAYLOAD + 1)), LinkError);
  });

  t.test(`${kind}: a 1 MiB reply crosses the link intact`, async (t) => {
    const { host, card } = await peerPair(t, kind);
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
    card.onRequest(() => data);
    const r = await host.request(LinkCmd.DMA_READ, 1);
    t.equal(r.payload.byteLength, data.byteLength);
    t.ok(Buffer.from(r.payload).equals(Buffer.from(data)));
  });
}

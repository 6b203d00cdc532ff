// LINK-*: framing and the request/reply rules of the link itself (docs/link-protocol.md; vfio-user specs.md §5.1–§5.2).
import { HEADER_SIZE } from '../../devices/pcie/link/codec.ts';
import { LinkError, errnoName } from '../../devices/pcie/link/errors.ts';
import { DmaMapFlag, LINK_FN, LINK_VERSION, LinkCmd, LinkErrno, LinkFlag, MAX_PAYLOAD, Region, type Frame } from '../../devices/pcie/link/messages.ts';
import { decodeRegionAccess, encodeDmaMap, encodeDmaUnmap, encodeRegionAccess, regionValue } from '../../devices/pcie/link/payloads.ts';
import { DEFAULT_CAPS, decodeVersion, encodeVersion } from '../../devices/pcie/link/version.ts';
import { viewOf } from '../../devices/layout.ts';
import type { SuiteContext } from '../context.ts';
import type { RawLink } from '../raw-link.ts';
import { check, defineGroup, hex } from '../types.ts';

const LP = 'docs/link-protocol.md';
const VFU = 'vfio-user §5.1 (specs.md §5.1)';

async function rawNegotiated(ctx: SuiteContext): Promise<RawLink> {
  const r = await ctx.raw();
  r.send({ msgId: 1, cmd: LinkCmd.VERSION, fn: LINK_FN, flags: 0, error: 0, payload: encodeVersion({ ...LINK_VERSION, caps: DEFAULT_CAPS }) });
  const [f] = await r.waitFrames(1, ctx.timeoutMs);
  check(f !== undefined, 'no reply to VERSION on a fresh connection');
  r.frames.length = 0;
  return r;
}

async function expectError(p: Promise<unknown>, errno: number, what: string): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  check(e !== undefined, `${what}: the card replied success, expected ${errnoName(errno)}`);
  check(e instanceof LinkError, `${what}: ${(e as Error).message}`);
  check(e.errno === errno, `${what}: error ${errnoName(e.errno)}, expected ${errnoName(errno)}`);
}

function configReadFrame(msgId: number, fn: number, off: number): Omit<Frame, 'payload'> & { payload: Uint8Array } {
  return { msgId, cmd: LinkCmd.REGION_READ, fn, flags: 0, error: 0, payload: encodeRegionAccess(off, Region.CONFIG, 4).slice() };
}

export const LINK_CASES = defineGroup('LINK', [
  { n: 1, level: 'M', clause: `${LP} §8 VERSION; ${VFU} §5.2 cmd 1`, title: 'VERSION is answered with the same major, minor ≤ proposed and capabilities no larger than proposed',
    async run(ctx) {
      const rc = await ctx.open('link-001');
      const caps = { max_data_xfer_size: 65536, max_dma_maps: 16, pgsizes: 0x1000 };
      const r = await rc.peer.request(LinkCmd.VERSION, LINK_FN, encodeVersion({ major: LINK_VERSION.major, minor: 0x7fff, caps }));
      const v = decodeVersion(r.payload);
      check(v.major === LINK_VERSION.major, `major ${v.major} != proposed ${LINK_VERSION.major}`);
      check(v.minor <= 0x7fff, `minor ${v.minor} above the proposed one`);
      check(v.caps.max_data_xfer_size <= caps.max_data_xfer_size, `max_data_xfer_size ${v.caps.max_data_xfer_size} > proposed ${caps.max_data_xfer_size}`);
      check((v.caps.pgsizes & ~caps.pgsizes) === 0, `pgsizes ${hex(v.caps.pgsizes)} not a subset of ${hex(caps.pgsizes)}`);
      rc.close();
    } },
  { n: 2, level: 'M', clause: `${LP} §8; ${VFU} §5.2 "major must match"`, title: 'VERSION with a different major is refused with an error reply and the link keeps serving',
    async run(ctx) {
      const rc = await ctx.open('link-002');
      await expectError(rc.peer.request(LinkCmd.VERSION, LINK_FN, encodeVersion({ major: LINK_VERSION.major + 7, minor: 0, caps: DEFAULT_CAPS })).then(() => undefined),
        LinkErrno.ENOTSUP, 'VERSION major+7');
      await rc.ping();
      rc.close();
    } },
  { n: 3, level: 'M', clause: `${LP} §3 request ids; ${VFU} msg_id`, title: 'a reply echoes the request msgId, cmd and fn and sets REPLY',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      const ids = [0x7fff_ffff, 0xdead_beef, 2];
      for (const id of ids) r.send({ msgId: id, cmd: LinkCmd.PING, fn: LINK_FN, flags: 0, error: 0 });
      const got = await r.waitFrames(ids.length, ctx.timeoutMs);
      check(got.length === ids.length, `${got.length} replies to ${ids.length} PINGs`);
      for (const [i, f] of got.entries()) {
        check((f.flags & LinkFlag.REPLY) !== 0, `frame ${i} lacks the REPLY flag`);
        check(f.cmd === LinkCmd.PING && f.fn === LINK_FN, `reply carries cmd ${hex(f.cmd)} fn ${hex(f.fn)}`);
      }
      check(got.map((f) => f.msgId).sort().join() === ids.sort().join(), `reply ids ${got.map((f) => hex(f.msgId)).join(',')} != ${ids.map((x) => hex(x)).join(',')}`);
    } },
  { n: 4, level: 'M', clause: `${LP} §5 ordering; ${VFU} "processed in order"`, title: 'pipelined config reads are answered in request order',
    async run(ctx) {
      const fn = ctx.anyFn().fn;
      const r = await rawNegotiated(ctx);
      const offs = [0, 4, 8, 0xc, 0x10, 0x2c, 0x34, 0x3c];
      r.sendBytes(...offs.map((o, i) => {
        const f = configReadFrame(100 + i, fn, o);
        const b = new Uint8Array(HEADER_SIZE + f.payload.byteLength);
        const v = viewOf(b);
        v.setUint32(0, f.msgId, true); v.setUint16(4, f.cmd, true); v.setUint16(6, fn, true); v.setUint32(8, b.byteLength, true);
        b.set(f.payload, HEADER_SIZE);
        return b;
      }));
      const got = await r.waitFrames(offs.length, ctx.timeoutMs);
      check(got.length === offs.length, `${got.length} replies to ${offs.length} reads`);
      check(got.every((f, i) => f.msgId === 100 + i), `reply order ${got.map((f) => f.msgId - 100).join(',')}`);
      for (const [i, f] of got.entries()) {
        check(f.error === 0 && (f.flags & LinkFlag.ERROR) === 0, `read ${i} failed with ${errnoName(f.error)}`);
        check(decodeRegionAccess(f.payload).offset === offs[i], `reply ${i} names offset ${decodeRegionAccess(f.payload).offset}`);
        regionValue(decodeRegionAccess(f.payload));
      }
    } },
  { n: 5, level: 'M', clause: `${LP} §6 error replies; ${VFU} "an error reply carries only the header"`, title: 'an error reply has REPLY|ERROR, a non-zero errno and no payload',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      r.send({ msgId: 55, cmd: LinkCmd.DEVICE_GET_INFO, fn: 0x7ff0, flags: 0, error: 0 });
      const [f] = await r.waitFrames(1, ctx.timeoutMs);
      check(f !== undefined, 'no reply to DEVICE_GET_INFO on an absent function');
      check(f.msgId === 55, `reply msgId ${f.msgId}`);
      check((f.flags & (LinkFlag.REPLY | LinkFlag.ERROR)) === (LinkFlag.REPLY | LinkFlag.ERROR), `flags ${hex(f.flags)}`);
      check(f.error !== 0, 'errno is 0');
      check(f.payload.byteLength === 0, `error reply carries ${f.payload.byteLength} payload bytes`);
    } },
  { n: 6, level: 'M', clause: `${LP} §6 "unknown command → ENOSYS"`, title: 'an unknown command is answered with ENOSYS',
    async run(ctx) {
      const rc = await ctx.open('link-006');
      await expectError(rc.peer.request(0x7abc, LINK_FN), LinkErrno.ENOSYS, 'cmd 0x7abc on fn 0xFFFF');
      await expectError(rc.peer.request(0x0ff0, ctx.functions[0]?.fn ?? 1), LinkErrno.ENOSYS, 'cmd 0x0ff0 on a function');
      await rc.ping();
      rc.close();
    } },
  { n: 7, level: 'M', clause: `${LP} §6 "unknown function → ENODEV"`, title: 'requests to a function that does not exist are answered with ENODEV',
    async run(ctx) {
      const rc = await ctx.open('link-007');
      await expectError(rc.getInfo(0x7ff0), LinkErrno.ENODEV, 'DEVICE_GET_INFO fn 0x7ff0');
      await expectError(rc.configRead(0x7ff0, 0, 4), LinkErrno.ENODEV, 'config read fn 0x7ff0');
      await expectError(rc.reset(0x7ff0), LinkErrno.ENODEV, 'DEVICE_RESET fn 0x7ff0');
      rc.close();
    } },
  { n: 8, level: 'M', clause: `${LP} §2 MAX_PAYLOAD; §6 EMSGSIZE`, title: 'a frame above MAX_PAYLOAD gets EMSGSIZE for its msgId and the card keeps serving that connection',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      const size = HEADER_SIZE + MAX_PAYLOAD + 4096;
      const big = new Uint8Array(size);
      const v = viewOf(big);
      v.setUint32(0, 77, true); v.setUint16(4, LinkCmd.REGION_WRITE, true); v.setUint16(6, ctx.functions[0]?.fn ?? 1, true); v.setUint32(8, size, true);
      r.sendBytes(big);
      r.send({ msgId: 78, cmd: LinkCmd.PING, fn: LINK_FN, flags: 0, error: 0 });
      const got = await r.waitFrames(2, ctx.timeoutMs * 2);
      const err = got.find((f) => f.msgId === 77);
      check(err !== undefined, r.downReason !== undefined ? `the card dropped the connection (${r.downReason})` : 'no reply to the oversize frame');
      check((err.flags & LinkFlag.ERROR) !== 0 && err.error === LinkErrno.EMSGSIZE, `reply ${errnoName(err.error)} flags ${hex(err.flags)}, expected EMSGSIZE`);
      check(got.some((f) => f.msgId === 78 && (f.flags & LinkFlag.ERROR) === 0), 'PING after the oversize frame was not answered');
    } },
  { n: 9, level: 'M', clause: `${LP} §2 "size < 16 is a protocol error"`, title: 'a header whose size is below 16 ends that connection (or is refused) and the card keeps serving others',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      const bad = new Uint8Array(HEADER_SIZE);
      const v = viewOf(bad);
      v.setUint32(0, 9, true); v.setUint16(4, LinkCmd.PING, true); v.setUint16(6, LINK_FN, true); v.setUint32(8, 3, true);
      r.sendBytes(bad);
      const down = await r.waitDown(ctx.timeoutMs);
      const refused = r.frames.some((f) => f.msgId === 9 && (f.flags & LinkFlag.ERROR) !== 0);
      check(down || refused, 'the card neither closed the connection nor refused the malformed header');
      const rc = await ctx.open('link-009-after');
      await rc.ping();
      rc.close();
    } },
  { n: 10, level: 'M', clause: `${LP} §4 DEVICE_RESET; ${VFU} cmd 13`, title: 'DEVICE_RESET on a present function succeeds with an empty reply',
    async run(ctx) {
      const rc = await ctx.open('link-010');
      const r = await rc.peer.request(LinkCmd.DEVICE_RESET, ctx.anyFn().fn);
      check(r.payload.byteLength === 0, `reply carries ${r.payload.byteLength} bytes`);
      rc.close();
    } },
  { n: 11, level: 'M', clause: `${LP} §4 PING`, title: 'PING on fn 0xFFFF is answered with an empty reply',
    async run(ctx) {
      const rc = await ctx.open('link-011');
      const r = await rc.peer.request(LinkCmd.PING, LINK_FN);
      check(r.payload.byteLength === 0, `PING reply carries ${r.payload.byteLength} bytes`);
      rc.close();
    } },
  { n: 12, level: 'M', clause: `${LP} §4 DEVICE_GET_INFO; ${VFU} cmd 4`, title: 'DEVICE_GET_INFO on a function reports PCI, ≥ 9 regions and ≥ 3 IRQ indices',
    async run(ctx) {
      const rc = await ctx.io();
      const i = await rc.getInfo(ctx.anyFn().fn);
      check((i.flags & 2) !== 0, `flags ${hex(i.flags)} lack PCI (bit 1)`);
      check(i.numRegions >= 9, `numRegions ${i.numRegions} < 9`);
      check(i.numIrqs >= 3, `numIrqs ${i.numIrqs} < 3 (MSIX is index 2)`);
    } },
  { n: 13, level: 'M', clause: `${LP} §4 REGION_READ count 1/2/4`, title: 'a region read of 3 bytes is refused with EINVAL',
    async run(ctx) {
      const rc = await ctx.io();
      await expectError(rc.peer.request(LinkCmd.REGION_READ, ctx.anyFn().fn, encodeRegionAccess(0, Region.CONFIG, 3)), LinkErrno.EINVAL, 'config read count 3');
    } },
  { n: 14, level: 'O', clause: `${LP} §3 flags`, title: 'a request carrying ERROR without REPLY is refused with EPROTO',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      r.send({ msgId: 31, cmd: LinkCmd.PING, fn: LINK_FN, flags: LinkFlag.ERROR, error: 5 });
      const [f] = await r.waitFrames(1, ctx.timeoutMs);
      check(f !== undefined && f.msgId === 31, 'no reply');
      check(f.error === LinkErrno.EPROTO, `errno ${errnoName(f.error)}`);
    } },
  { n: 15, level: 'M', clause: `${LP} §3 posted frames (NO_REPLY)`, title: 'a posted PING gets no reply; the next request is answered first',
    async run(ctx) {
      const r = await rawNegotiated(ctx);
      r.send({ msgId: 41, cmd: LinkCmd.PING, fn: LINK_FN, flags: LinkFlag.NO_REPLY, error: 0 });
      r.send({ msgId: 42, cmd: LinkCmd.PING, fn: LINK_FN, flags: 0, error: 0 });
      const [f] = await r.waitFrames(1, ctx.timeoutMs);
      check(f !== undefined, 'no reply to the non-posted PING');
      check(f.msgId === 42, `first frame back answers msgId ${f.msgId}`);
    } },
  { n: 16, level: 'O', clause: `${LP} §7 DMA windows`, title: 'DMA_UNMAP of a window never mapped is refused (ENOENT)',
    async run(ctx) {
      const fn = ctx.anyFn().fn;
      const rc = await ctx.open('link-016');
      await rc.bind(fn, new Uint8Array(new SharedArrayBuffer(1 << 16)));
      await expectError(rc.peer.request(LinkCmd.DMA_UNMAP, fn, encodeDmaUnmap(0x40000, 0x1000)), LinkErrno.ENOENT, 'DMA_UNMAP 0x40000+0x1000');
      rc.close();
    } },
  { n: 17, level: 'M', clause: `${LP} §7.2 DMA windows ("windows may not overlap"); §6 EEXIST`, title: 'DMA_MAP of a window overlapping an existing one is refused with EEXIST; an adjacent window is accepted',
    async run(ctx) {
      const fn = ctx.anyFn().fn;
      const rc = await ctx.open('link-017');
      const mem = new Uint8Array(new SharedArrayBuffer(1 << 16));
      await rc.bind(fn, mem);
      // Raw DMA_MAPs: the host side's own table would refuse the overlap before the card saw it.
      const shared = rc.peer.transport.sharedMemory;
      const memId = shared !== undefined ? await shared.share(mem) : 1;
      const map = (iova: number, size: number) => rc.peer.request(LinkCmd.DMA_MAP, fn, encodeDmaMap({ flags: DmaMapFlag.READ | DmaMapFlag.WRITE, memId, iova, size, gpa: iova }));
      await map(0x4000, 0x4000);
      await expectError(map(0x6000, 0x4000), LinkErrno.EEXIST, 'DMA_MAP 0x6000+0x4000 over 0x4000+0x4000');
      await expectError(map(0x2000, 0x10000 - 0x2000), LinkErrno.EEXIST, 'DMA_MAP 0x2000+0xe000 around 0x4000+0x4000');
      await map(0x8000, 0x4000);
      await rc.peer.request(LinkCmd.DMA_UNMAP, fn, encodeDmaUnmap(0x4000, 0x4000));
      rc.close();
    } },
]);

// VIRTIO-NET-*: the virtio-net device requirements a host can observe (virtio 1.2 §5.1; specs.md §3.10): the device
// config, offered feature dependencies, the 12-byte header, and packets both ways. The card must put the frames the
// guest transmits on its network; the suite observes that through the card's ARP answer for the subnet gateway, so
// the packet cases need the ENI the suite asks for with --mgmt (docs/conformance.md §3.2).
import { ArpOp, ArpPkt, EthHdr, EtherType, parseIpv4 } from '../../devices/net-wire.ts';
import { viewOf } from '../../devices/layout.ts';
import {
  bit, FeatureBit, GsoType, NetConfig, NetFeatureBit, NetFeatureDeps, NetHdr, NetHdrFlags, NetStatus,
} from '../../devices/virtio-net/regs.ts';
import { arpPacket, ethFrame } from '../../nitro-card/vpc/frames.ts';
import type { SuiteContext } from '../context.ts';
import type { LaunchedNet } from '../session.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';
import { RXQ, type VirtioHost } from '../virtio-host.ts';
import type { GuestVirtq } from '../virtq.ts';
import { pollUntil } from '../wait.ts';

const V = 'virtio 1.2';
const BROADCAST = new Uint8Array(6).fill(0xff);
/** An rx buffer big enough for any frame without MRG_RXBUF (specs.md §3.10 "Receive"). */
const RX_BUF = NetHdr.size + 1514;

function macBytes(mac: string): Uint8Array { return Uint8Array.from(mac.split(':'), (x) => parseInt(x, 16)); }
const macText = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

function net(ctx: SuiteContext): LaunchedNet {
  const l = ctx.launched;
  if (ctx.opts.mgmt === undefined || l === undefined || l.error !== undefined) {
    throw new Skip('needs --mgmt: the suite sends ARP for the gateway of the ENI it asked for in the launch');
  }
  return l.net;
}

/** An ARP request from the ENI for its subnet gateway. */
function arpRequest(n: LaunchedNet): Uint8Array {
  const mac = macBytes(n.mac);
  return ethFrame(BROADCAST, mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, mac, parseIpv4(n.ip) ?? 0, new Uint8Array(6), parseIpv4(n.gatewayIp) ?? 0));
}

/** Is `frame` an ARP reply from the gateway to the ENI? */
function isGatewayReply(frame: Uint8Array, n: LaunchedNet): boolean {
  if (frame.length < EthHdr.size + ArpPkt.size) return false;
  const v = viewOf(frame);
  const A = ArpPkt.offset;
  return v.getUint16(EthHdr.offset.ethertype) === EtherType.ARP && v.getUint16(EthHdr.size + A.oper) === ArpOp.REPLY
    && v.getUint32(EthHdr.size + A.spa) === parseIpv4(n.gatewayIp) && macText(frame.subarray(EthHdr.offset.dst, EthHdr.offset.dst + 6)) === n.mac;
}

/** Start with `features` (MAC always), post rx buffers of `sizes`, send the ARP request; returns the rx queue. */
async function arpExchange(ctx: SuiteContext, features: bigint, sizes: number[]): Promise<{ h: VirtioHost; rx: GuestVirtq; tx: GuestVirtq; bufs: { addr: number; len: number }[]; n: LaunchedNet }> {
  const n = net(ctx);
  const h = await ctx.virtio();
  const { rx, tx } = await h.start({ features: features | bit(NetFeatureBit.MAC) });
  const bufs = sizes.map((len) => rx.post([{ len, write: true }]).bufs[0] ?? { addr: 0, len: 0 });
  // A canary after the last buffer: nothing may be written there.
  const last = bufs[bufs.length - 1];
  if (last) h.mem.fill(CANARY, last.addr + last.len, last.addr + last.len + 64);
  await h.notify(RXQ);
  await h.transmit(tx, arpRequest(n));
  return { h, rx, tx, bufs, n };
}

const CANARY = 0xa5;

/**
 * An ARP request for the gateway whose target address only becomes the gateway's once the device completes a
 * NEEDS_CSUM checksum over it: csum_start = the tpa field, csum_offset 0, so the device stores ~sum(tpa) in tpa's
 * high half. tpa is sent as (x, gw_lo) with x chosen so that ~(x +' gw_lo) = gw_hi; unchecksummed, it names an
 * address outside the subnet, which the card does not answer.
 */
function csumArp(n: LaunchedNet): { frame: Uint8Array; hdr: Uint8Array } {
  const gw = parseIpv4(n.gatewayIp) ?? 0;
  const hi = gw >>> 16;
  const lo = gw & 0xffff;
  let x = (~hi & 0xffff) + (~lo & 0xffff);
  x = (x & 0xffff) + (x >>> 16);
  const mac = macBytes(n.mac);
  const frame = ethFrame(BROADCAST, mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, mac, parseIpv4(n.ip) ?? 0, new Uint8Array(6), ((x << 16) | lo) >>> 0));
  const hdr = new Uint8Array(NetHdr.size);
  const v = viewOf(hdr);
  v.setUint8(NetHdr.offset.flags, NetHdrFlags.NEEDS_CSUM);
  v.setUint16(NetHdr.offset.csum_start, EthHdr.size + ArpPkt.offset.tpa, true);
  v.setUint16(NetHdr.offset.csum_offset, 0, true);
  return { frame, hdr };
}

/** Send the csumArp frame with `features` negotiated; resolves whether the gateway's reply came back. */
async function csumExchange(ctx: SuiteContext, features: bigint): Promise<{ h: VirtioHost; replied: boolean }> {
  const n = net(ctx);
  const h = await ctx.virtio();
  const { rx, tx } = await h.start({ features: features | bit(NetFeatureBit.MAC) });
  rx.post([{ len: RX_BUF, write: true }]);
  await h.notify(RXQ);
  const { frame, hdr } = csumArp(n);
  await h.transmit(tx, frame, hdr);
  check(await h.waitUsed(tx, 1), 'the tx buffer was not used');
  const got = await pollUntil(() => rx.usedIdx !== 0, (features & bit(NetFeatureBit.CSUM)) !== 0n ? ctx.timeoutMs : Math.min(ctx.timeoutMs, 500));
  if (!got) return { h, replied: false };
  const e = rx.usedElem(0);
  const d = rx.getDesc(e.id);
  return { h, replied: isGatewayReply(rx.bytes(d.addr, e.len).subarray(NetHdr.size), n) };
}

export const VIRTIO_NET_CASES = defineGroup('VIRTIO-NET', [
  { n: 1, level: 'M', clause: `${V} §5.1.4 Device configuration layout (mac, VIRTIO_NET_F_MAC)`, title: 'with VIRTIO_NET_F_MAC offered, the mac field is a unicast, non-zero address (the one asked for at launch, with --mgmt)',
    async run(ctx) {
      const h = await ctx.virtio();
      await h.reset();
      if (((await h.offered()) & bit(NetFeatureBit.MAC)) === 0n) throw new Skip('VIRTIO_NET_F_MAC not offered');
      const mac = await h.deviceConfig(NetConfig.offset.mac, 6);
      check(mac.some((b) => b !== 0), 'mac is 00:00:00:00:00:00');
      check(((mac[0] ?? 0) & 1) === 0, `mac ${macText(mac)} is a multicast address`);
      const l = ctx.launched;
      if (l !== undefined && l.error === undefined && ctx.opts.mgmt !== undefined) check(macText(mac) === l.net.mac, `mac ${macText(mac)}, the launch asked for ${l.net.mac}`);
    } },
  { n: 2, level: 'M', clause: `${V} §5.1.4 Device configuration layout (status, VIRTIO_NET_F_STATUS)`, title: 'with VIRTIO_NET_F_STATUS offered, the status field uses only LINK_UP and ANNOUNCE',
    async run(ctx) {
      const h = await ctx.virtio();
      await h.reset();
      if (((await h.offered()) & bit(NetFeatureBit.STATUS)) === 0n) throw new Skip('VIRTIO_NET_F_STATUS not offered');
      const s = viewOf(await h.deviceConfig(NetConfig.offset.status, 2)).getUint16(0, true);
      check((s & ~(NetStatus.LINK_UP | NetStatus.ANNOUNCE)) === 0, `status ${hex(s, 4)} has reserved bits`);
    } },
  { n: 3, level: 'O', clause: `${V} §5.1.4 (status LINK_UP)`, title: 'a running instance\'s link reads up (status bit LINK_UP)',
    async run(ctx) {
      const h = await ctx.virtio();
      await h.start({ features: bit(NetFeatureBit.STATUS) });
      const s = viewOf(await h.deviceConfig(NetConfig.offset.status, 2)).getUint16(0, true);
      check((s & NetStatus.LINK_UP) !== 0, `status ${hex(s, 4)}: link down`);
      await h.reset();
    } },
  { n: 4, level: 'M', clause: `${V} §2.2.1 Device Requirements: Feature Bits; §5.1.3.1 Feature bit requirements`, title: 'every offered virtio-net feature comes with the features it depends on',
    async run(ctx) {
      const h = await ctx.virtio();
      await h.reset();
      const offered = await h.offered();
      for (const [f, needs] of NetFeatureDeps) {
        if ((offered & bit(f)) === 0n) continue;
        check(needs.some((x) => (offered & bit(x)) !== 0n), `feature ${f} offered without any of ${needs.join(', ')}`);
      }
      check((offered & bit(FeatureBit.RING_PACKED)) === 0n || (offered & bit(FeatureBit.VERSION_1)) !== 0n, 'RING_PACKED without VERSION_1');
    } },
  { n: 5, level: 'M', clause: `${V} §5.1.6.2 Packet Transmission; docs/vpc.md (the card answers ARP for its subnet)`, title: 'a transmitted frame reaches the card: an ARP request for the subnet gateway is answered on the receive queue, to the device\'s MAC',
    async run(ctx) {
      const { h, rx, n } = await arpExchange(ctx, 0n, [RX_BUF, RX_BUF]);
      check(await h.waitUsed(rx, 1), 'no frame on the receive queue after an ARP request for the gateway');
      const e = rx.usedElem(0);
      const buf = rx.getDesc(e.id);
      const got = rx.bytes(buf.addr, e.len).subarray(NetHdr.size);
      check(isGatewayReply(got, n), `the received frame is not an ARP reply from ${n.gatewayIp} to ${n.mac}`);
      await h.reset();
    } },
  { n: 6, level: 'M', clause: `${V} §5.1.6 Device Operation (virtio_net_hdr is 12 bytes with VERSION_1); §5.1.6.4.1 num_buffers`, title: 'a received packet starts with a 12-byte header (gso NONE, num_buffers 1 without MRG_RXBUF), used.len = 12 + frame length ≤ the buffer',
    async run(ctx) {
      const { h, rx, n } = await arpExchange(ctx, 0n, [RX_BUF]);
      check(await h.waitUsed(rx, 1), 'no frame on the receive queue');
      const e = rx.usedElem(0);
      const d = rx.getDesc(e.id);
      check(e.len <= d.len, `used len ${e.len} > buffer ${d.len}`);
      const b = rx.bytes(d.addr, d.len);
      const hv = viewOf(b);
      check((hv.getUint8(NetHdr.offset.gso_type) & ~GsoType.ECN) === GsoType.NONE, `gso_type ${hv.getUint8(NetHdr.offset.gso_type)}`);
      check(hv.getUint16(NetHdr.offset.num_buffers, true) === 1, `num_buffers ${hv.getUint16(NetHdr.offset.num_buffers, true)} without MRG_RXBUF`);
      check(isGatewayReply(b.subarray(NetHdr.size, e.len), n), 'the frame does not start at byte 12 (not an ARP reply there)');
      check(e.len >= NetHdr.size + EthHdr.size + ArpPkt.size, `used len ${e.len} is shorter than header + ARP reply`);
      await h.reset();
    } },
  { n: 7, level: 'M', clause: `${V} §5.1.6.3.1, §5.1.6.4.1 Device Requirements: Processing of Incoming Packets (VIRTIO_NET_F_MRG_RXBUF)`, title: 'with MRG_RXBUF and 32-byte buffers, a packet spans several buffers and num_buffers equals the used entries it took',
    async run(ctx) {
      const h0 = await ctx.virtio();
      await h0.reset();
      if (((await h0.offered()) & bit(NetFeatureBit.MRG_RXBUF)) === 0n) throw new Skip('VIRTIO_NET_F_MRG_RXBUF not offered');
      const { h, rx, n } = await arpExchange(ctx, bit(NetFeatureBit.MRG_RXBUF), [32, 32, 32, 32]);
      check(await h.waitUsed(rx, 1), 'no frame on the receive queue');
      const first = rx.usedElem(0);
      const d0 = rx.getDesc(first.id);
      const nb = viewOf(rx.bytes(d0.addr, 12)).getUint16(NetHdr.offset.num_buffers, true);
      check(nb >= 2, `num_buffers ${nb} for a ${NetHdr.size + EthHdr.size + ArpPkt.size}-byte packet in 32-byte buffers`);
      check(await h.waitUsed(rx, nb), `num_buffers ${nb} but used.idx ${rx.usedIdx}`);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < nb; i++) {
        const e = rx.usedElem(i);
        const d = rx.getDesc(e.id);
        check(e.len <= d.len, `used len ${e.len} > buffer ${d.len}`);
        parts.push(rx.bytes(d.addr, e.len));
      }
      const all = Buffer.concat(parts);
      check(isGatewayReply(all.subarray(NetHdr.size), n), 'the merged buffers do not hold the ARP reply');
      await h.reset();
    } },
  { n: 8, level: 'M', clause: `${V} §5.1.6.3.1 Device Requirements: Setting Up Receive Buffers; §2.7.8.1 (never write beyond a buffer)`, title: 'without MRG_RXBUF a packet larger than the only rx buffer is not written past that buffer nor reported with a larger len',
    async run(ctx) {
      const { h, rx, tx, bufs } = await arpExchange(ctx, 0n, [32]);
      const b = bufs[0];
      check(b !== undefined, 'no buffer');
      const canary = (): boolean => h.mem.subarray(b.addr + b.len, b.addr + b.len + 64).every((x) => x === CANARY);
      check(await h.waitUsed(tx, 1), 'the ARP request was not used');
      // A negative observation: give the card a bounded moment to (wrongly) write, then look.
      await pollUntil(() => rx.usedIdx !== 0 || !canary(), Math.min(ctx.timeoutMs, 500));
      await h.fence();
      check(canary(), 'the device wrote past the 32-byte rx buffer');
      if (rx.usedIdx !== 0) check(rx.usedElem(0).len <= b.len, `used len ${rx.usedElem(0).len} > 32`);
      await h.reset();
    } },
  { n: 9, level: 'M', clause: `${V} §5.1.6.2 Packet Transmission (VIRTIO_NET_F_CSUM: the device completes a NEEDS_CSUM checksum from csum_start, stored at csum_start + csum_offset)`, title: 'with CSUM negotiated, a frame with NEEDS_CSUM leaves the device with its checksum completed (observed through the card\'s ARP answer)',
    async run(ctx) {
      const h0 = await ctx.virtio();
      await h0.reset();
      if (((await h0.offered()) & bit(NetFeatureBit.CSUM)) === 0n) throw new Skip('VIRTIO_NET_F_CSUM not offered');
      const { h, replied } = await csumExchange(ctx, bit(NetFeatureBit.CSUM));
      check(replied, 'no ARP reply: the checksum was not completed (the target address stayed outside the subnet)');
      await h.reset();
    } },
  { n: 10, level: 'O', clause: `${V} §5.1.6.2.1 (NEEDS_CSUM only with VIRTIO_NET_F_CSUM)`, title: 'without CSUM negotiated, NEEDS_CSUM is not honoured: the frame is not checksummed (dropped, or sent unchanged)',
    async run(ctx) {
      const { h, replied } = await csumExchange(ctx, 0n);
      check(!replied, 'the device completed a checksum although VIRTIO_NET_F_CSUM was not negotiated');
      await h.reset();
    } },
]);

// Wires the project's real virtio-net device (PciFunction + VirtioNet) into the guest's TestPlatform stand-in, and
// provides two stand-in backends for guest networking tests: WireStandIn (two devices back to back, with a switch to
// drop a chosen frame once) and RouterStandIn (a tiny VPC router: answers ARP for the gateway, ICMP echo to it, and
// DHCP). Neither is the card's VPC; they exist so the guest's driver and IP stack can be tested end to end.
import { DmaFault, type DeviceContext } from '../../../../../src/devices/contract.ts';
import { PciFunction } from '../../../../../src/devices/pcie/pci-function.ts';
import { VirtioNet, type NetBackend } from '../../../../../src/devices/virtio-net/net.ts';
import {
  ArpOp, ArpPkt, BROADCAST_MAC, DHCP_MAGIC, DhcpHdr, DhcpMsg, DhcpOpt, DhcpPort, EthHdr, EtherType, IcmpEcho, IcmpType,
  IpProto, Ipv4Hdr, UdpHdr, internetChecksum, onesComplementSum, pseudoHeaderSum,
} from '../../../../../src/devices/net-wire.ts';
import { bootGuest, type BootOptions, type GuestKernel } from '../../../../../src/host/guest/kernel.ts';
import { TestPlatform } from '../../helpers/test-platform.ts';

export interface RealVirtioNet {
  readonly fn: PciFunction;
  readonly net: VirtioNet;
  readonly logs: { level: string; obj: object }[];
  /** Where frames the guest sends go (set by a stand-in backend). */
  backend: { transmit: (frame: Uint8Array) => void };
  /** DMA reads the device issued (each one a link round trip on the socket link). */
  readonly dmaReads: number;
}

/** Platforms whose activity counts for each other, so one guest's virtual clock does not jump while its peer works. */
export class ActivityGroup {
  readonly platforms: TestPlatform[] = [];
  touch(): void { for (const p of this.platforms) p.touch(); }
}

export function attachRealVirtioNet(p: TestPlatform, slot: number, mac: string, group?: ActivityGroup, opts: { queueSize?: number; linkUp?: boolean } = {}): RealVirtioNet {
  const logs: { level: string; obj: object }[] = [];
  const log = {
    debug: (obj: object) => { logs.push({ level: 'debug', obj }); },
    info: (obj: object) => { logs.push({ level: 'info', obj }); },
    warn: (obj: object) => { logs.push({ level: 'warn', obj }); },
    error: (obj: object) => { logs.push({ level: 'error', obj }); },
  };
  const metrics = { inc: () => {}, observe: () => {} };
  const touch = (): void => { if (group) group.touch(); else p.touch(); };
  const fn = new PciFunction({ sendMsi: (address, data) => { touch(); p.deliverMsi(address, data); }, log, metrics });
  const check = (addr: number, len: number): void => {
    if (addr < 0 || addr + len > p.mem.length) throw new DmaFault(addr, len, 'unmapped');
  };
  const ctx: DeviceContext = {
    dma: {
      read: async (addr, dst) => { touch(); check(addr, dst.length); (out as { dmaReads: number }).dmaReads++; dst.set(p.mem.subarray(addr, addr + dst.length)); },
      write: async (addr, src) => { touch(); check(addr, src.length); p.mem.set(src, addr); },
    },
    irq: fn.irq,
    clock: { nowNs: () => p.nowNs(), setTimer: (ms, f) => p.setTimer(ms, f) },
    log,
    metrics,
  };
  const out: RealVirtioNet = {
    fn,
    logs,
    backend: { transmit: () => {} },
    net: undefined as unknown as VirtioNet,
    dmaReads: 0,
  };
  const backend: NetBackend = { transmit: (frame) => { touch(); out.backend.transmit(frame); } };
  const net = new VirtioNet({ ctx, backend, mac, queueSize: opts.queueSize ?? 256, ...(opts.linkUp === undefined ? {} : { linkUp: opts.linkUp }) });
  (out as { net: VirtioNet }).net = net;
  fn.attach(net);
  p.attach(slot, {
    configRead: (o, s) => { touch(); return fn.configRead(o, s); },
    configWrite: (o, s, v) => { touch(); fn.configWrite(o, s, v); },
    barRead: (b, o, s) => { touch(); return fn.barRead(b, o, s); },
    barWrite: (b, o, s, v) => { touch(); fn.barWrite(b, o, s, v); },
  });
  return out;
}

export interface GuestNode {
  readonly p: TestPlatform;
  readonly k: GuestKernel;
  readonly nic: RealVirtioNet;
}

export async function bootNode(o: { mac: string; hostname?: string; userData?: string; group?: ActivityGroup; boot?: BootOptions; wire?: (nic: RealVirtioNet) => void }): Promise<GuestNode> {
  const p = new TestPlatform({ memBytes: 16 << 20, hostname: o.hostname ?? 'ip-10-0-0-1', userData: o.userData ?? '' });
  o.group?.platforms.push(p);
  const nic = attachRealVirtioNet(p, 4, o.mac, o.group);
  o.wire?.(nic);
  const k = await bootGuest(p, { net: { dhcp: false }, ...o.boot });
  await k.userDataDone;
  return { p, k, nic };
}

/** Two devices back to back: what one transmits the other receives. `dropOnce` loses the first matching frame. */
export class WireStandIn {
  readonly frames: { from: 'a' | 'b'; frame: Uint8Array }[] = [];
  dropped = 0;
  private drop: ((frame: Uint8Array, from: 'a' | 'b') => boolean) | undefined;
  /** Rewrite frames in flight (malformed-frame tests). */
  mangle: ((frame: Uint8Array, from: 'a' | 'b') => Uint8Array) | undefined;
  a: VirtioNet | undefined;
  b: VirtioNet | undefined;

  attachA = (nic: RealVirtioNet): void => { this.a = nic.net; nic.backend.transmit = (f) => this.carry(f, 'a'); };
  attachB = (nic: RealVirtioNet): void => { this.b = nic.net; nic.backend.transmit = (f) => this.carry(f, 'b'); };

  dropOnce(pred: (frame: Uint8Array, from: 'a' | 'b') => boolean): void { this.drop = pred; }

  private carry(frame: Uint8Array, from: 'a' | 'b'): void {
    this.frames.push({ from, frame });
    if (this.frames.length > 64) this.frames.shift();
    if (this.drop?.(frame, from)) {
      this.drop = undefined;
      this.dropped++;
      return;
    }
    const f = this.mangle ? this.mangle(frame, from) : frame;
    void (from === 'a' ? this.b : this.a)?.receive(f);
  }

  /** Inject a frame toward side `to` as if the peer sent it. */
  inject(to: 'a' | 'b', frame: Uint8Array): Promise<boolean> {
    return (to === 'a' ? this.a : this.b)?.receive(frame) ?? Promise.resolve(false);
  }
}

/** A tiny router/DHCP server on the other end of one device. */
export class RouterStandIn {
  readonly mac = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0xfe);
  readonly seen: Uint8Array[] = [];
  dhcpMessages: number[] = [];
  net: VirtioNet | undefined;
  constructor(readonly gateway: number, readonly offerIp: number, readonly prefix: number, readonly leaseSeconds = 3600) {}

  attach = (nic: RealVirtioNet): void => { this.net = nic.net; nic.backend.transmit = (f) => this.onFrame(f); };

  private send(f: Uint8Array): void { void this.net?.receive(f); }

  private onFrame(f: Uint8Array): void {
    this.seen.push(f);
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const type = v.getUint16(EthHdr.offset.ethertype);
    const src = f.slice(6, 12);
    if (type === EtherType.ARP) {
      const A = ArpPkt.offset;
      const o = EthHdr.size;
      if (v.getUint16(o + A.oper) !== ArpOp.REQUEST || v.getUint32(o + A.tpa) !== this.gateway) return;
      const r = new Uint8Array(EthHdr.size + ArpPkt.size);
      const rv = new DataView(r.buffer);
      r.set(src, 0); r.set(this.mac, 6); rv.setUint16(12, EtherType.ARP);
      rv.setUint16(o + A.htype, 1); rv.setUint16(o + A.ptype, EtherType.IPV4); rv.setUint8(o + A.hlen, 6); rv.setUint8(o + A.plen, 4);
      rv.setUint16(o + A.oper, ArpOp.REPLY);
      r.set(this.mac, o + A.sha); rv.setUint32(o + A.spa, this.gateway);
      r.set(f.subarray(o + A.sha, o + A.sha + 6), o + A.tha); rv.setUint32(o + A.tpa, v.getUint32(o + A.spa));
      this.send(r);
      return;
    }
    if (type !== EtherType.IPV4) return;
    const ip = EthHdr.size;
    const proto = v.getUint8(ip + Ipv4Hdr.offset.protocol);
    const sip = v.getUint32(ip + Ipv4Hdr.offset.src);
    const dip = v.getUint32(ip + Ipv4Hdr.offset.dst);
    const l4 = ip + 20;
    if (proto === IpProto.ICMP && dip === this.gateway && v.getUint8(l4) === IcmpType.ECHO_REQUEST) {
      const icmp = f.slice(l4, ip + v.getUint16(ip + Ipv4Hdr.offset.total_length));
      icmp[0] = IcmpType.ECHO_REPLY;
      icmp[2] = 0; icmp[3] = 0;
      const c = internetChecksum(icmp, 0, icmp.length);
      icmp[2] = c >> 8; icmp[3] = c & 0xff;
      this.send(ipFrame(src, this.mac, this.gateway, sip, IpProto.ICMP, icmp));
      void IcmpEcho;
      return;
    }
    if (proto === IpProto.UDP && v.getUint16(l4 + UdpHdr.offset.dst_port) === DhcpPort.SERVER) this.dhcp(f, l4 + UdpHdr.size, src);
  }

  private dhcp(f: Uint8Array, at: number, clientMac: Uint8Array): void {
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const H = DhcpHdr.offset;
    let type = 0;
    for (let i = at + DhcpHdr.size; i < f.length && f[i] !== DhcpOpt.END;) {
      if (f[i] === DhcpOpt.PAD) { i++; continue; }
      if (f[i] === DhcpOpt.MSG_TYPE) type = f[i + 2]!;
      i += 2 + f[i + 1]!;
    }
    this.dhcpMessages.push(type);
    const reply = type === DhcpMsg.DISCOVER ? DhcpMsg.OFFER : type === DhcpMsg.REQUEST ? DhcpMsg.ACK : 0;
    if (!reply) return;
    const b = new Uint8Array(DhcpHdr.size + 40);
    const bv = new DataView(b.buffer);
    bv.setUint8(H.op, 2); bv.setUint8(H.htype, 1); bv.setUint8(H.hlen, 6);
    bv.setUint32(H.xid, v.getUint32(at + H.xid));
    bv.setUint32(H.yiaddr, this.offerIp);
    b.set(clientMac, H.chaddr);
    bv.setUint32(H.magic, DHCP_MAGIC);
    let o = DhcpHdr.size;
    const opt = (code: number, bytes: number[]): void => { b[o++] = code; b[o++] = bytes.length; for (const x of bytes) b[o++] = x; };
    const be = (n: number): number[] => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    opt(DhcpOpt.MSG_TYPE, [reply]);
    opt(DhcpOpt.SERVER_ID, be(this.gateway));
    opt(DhcpOpt.SUBNET_MASK, be((0xffff_ffff << (32 - this.prefix)) >>> 0));
    opt(DhcpOpt.ROUTER, be(this.gateway));
    opt(DhcpOpt.LEASE_TIME, be(this.leaseSeconds));
    b[o++] = DhcpOpt.END;
    const udp = new Uint8Array(UdpHdr.size + o);
    const uv = new DataView(udp.buffer);
    uv.setUint16(0, DhcpPort.SERVER); uv.setUint16(2, DhcpPort.CLIENT); uv.setUint16(4, udp.length);
    udp.set(b.subarray(0, o), UdpHdr.size);
    const c = internetChecksum(udp, 0, udp.length, pseudoHeaderSum(this.gateway, 0xffff_ffff, IpProto.UDP, udp.length));
    uv.setUint16(6, c === 0 ? 0xffff : c);
    this.send(ipFrame(BROADCAST_MAC, this.mac, this.gateway, 0xffff_ffff, IpProto.UDP, udp));
  }
}

export function ipFrame(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, proto: number, l4: Uint8Array, ttl = 64): Uint8Array {
  const f = new Uint8Array(EthHdr.size + 20 + l4.length);
  const v = new DataView(f.buffer);
  f.set(dstMac, 0); f.set(srcMac, 6); v.setUint16(12, EtherType.IPV4);
  const o = EthHdr.size;
  v.setUint8(o, 0x45); v.setUint16(o + 2, 20 + l4.length); v.setUint8(o + 8, ttl); v.setUint8(o + 9, proto);
  v.setUint32(o + 12, src); v.setUint32(o + 16, dst);
  v.setUint16(o + 10, ~onesComplementSum(f, o, o + 20) & 0xffff);
  f.set(l4, o + 20);
  return f;
}

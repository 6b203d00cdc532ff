// The guest IP stack: interfaces (lo and one per registered NetDevice), addresses and routes, Ethernet demux, ARP,
// IPv4 input checks (version, IHL, header checksum, lengths, no fragments), local delivery to ICMP/UDP/TCP, and IPv4
// output with route lookup, ARP resolution and L4 checksum offload. Every dropped frame is counted (counters.ts).
import {
  BROADCAST_MAC, EthHdr, EtherType, IcmpEcho, IcmpType, IpProto, Ipv4Hdr, formatIpv4, macEquals, onesComplementSum,
  type Cidr,
} from '../../../devices/net-wire.ts';
import type { KernelLog } from '../klog.ts';
import type { GuestPlatform } from '../platform.ts';
import { ArpTable, type ArpIface } from './arp.ts';
import { newNetCounters } from './counters.ts';
import type { NetDevice, NetDeviceHandle, NetDeviceRegistry } from './netdev.ts';
import {
  ETH_HLEN, IP_HLEN, IP_MF, IP_OFFSET_MASK, dv, fillL4Checksum, fillPseudoChecksum, l4ChecksumOk, readIpv4, writeEth, writeIpv4,
} from './packet.ts';
import { UdpLayer } from './udp.ts';
import { TcpLayer } from './tcp.ts';
import { DhcpClient } from './dhcp.ts';

export interface IfAddr {
  readonly ip: number;
  readonly prefix: number;
  readonly source: 'static' | 'dhcp' | 'kernel';
}

export interface Route {
  /** Destination block; prefix 0 is the default route. */
  readonly dst: Cidr;
  readonly via: number | undefined;
  readonly iface: NetInterface;
  readonly proto: 'kernel' | 'static' | 'dhcp';
  readonly src: number | undefined;
}

/** An L4 payload handed up from IPv4. */
export interface IpDatagram {
  readonly iface: NetInterface;
  readonly src: number;
  readonly dst: number;
  readonly ttl: number;
  readonly protocol: number;
  /** Exactly the L4 bytes (IPv4 padding removed). */
  readonly payload: Uint8Array;
  /** The device vouched for the L4 checksum. */
  readonly csumValid: boolean;
}

export interface SendOptions {
  /** Source address (default: the route's preferred source). 0 is allowed with `iface` (DHCP). */
  readonly src?: number;
  readonly ttl?: number;
  /** Offset of the L4 checksum field inside `l4`, to be filled (or offloaded). */
  readonly csumAt?: number;
  /** Send out of this interface, bypassing the route lookup (limited broadcast, DHCP). */
  readonly iface?: NetInterface;
}

export interface EchoReply { readonly ttl: number; readonly bytes: number; readonly from: number }

export interface NetStackOptions {
  /** Start the DHCP client on each interface as it registers (default true). */
  readonly dhcp: boolean;
  readonly defaultTtl: number;
}

const LIMITED_BROADCAST = 0xffff_ffff;
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0);

export class NetInterface implements ArpIface {
  readonly addrs: IfAddr[] = [];
  dhcp: DhcpClient | undefined;
  constructor(
    readonly index: number,
    readonly name: string,
    readonly dev: NetDevice | undefined,
    private readonly loop: (frame: Uint8Array) => void,
  ) {}

  get mac(): Uint8Array { return this.dev?.mac ?? new Uint8Array(6); }
  get mtu(): number { return this.dev?.mtu ?? 65536; }
  get up(): boolean { return this.dev ? this.dev.linkUp : true; }
  get loopback(): boolean { return this.dev === undefined; }
  primaryIp(): number { return this.addrs[0]?.ip ?? 0; }
  hasIp(ip: number): boolean { return this.addrs.some((a) => a.ip === ip); }
  /** Directed broadcast of one of our subnets? */
  isBroadcast(ip: number): boolean {
    return ip === LIMITED_BROADCAST || this.addrs.some((a) => a.prefix < 31 && ((a.ip | ~maskOf(a.prefix)) >>> 0) === ip);
  }
  send(frame: Uint8Array): void {
    if (this.dev) this.dev.transmit(frame);
    else this.loop(frame);
  }
}

export class NetStack implements NetDeviceRegistry {
  readonly counters = newNetCounters();
  readonly interfaces: NetInterface[] = [];
  readonly routes: Route[] = [];
  readonly arp: ArpTable;
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  readonly platform: GuestPlatform;
  readonly log: KernelLog;
  readonly opts: NetStackOptions;
  private ipId = 1;
  private readonly echoWaiters = new Map<number, (r: EchoReply) => void>();

  constructor(platform: GuestPlatform, log: KernelLog, opts: Partial<NetStackOptions> = {}) {
    this.platform = platform;
    this.log = log;
    this.opts = { dhcp: true, defaultTtl: 64, ...opts };
    this.arp = new ArpTable({ nowNs: () => platform.nowNs(), sleep: (ms) => platform.sleep(ms), counters: this.counters });
    this.udp = new UdpLayer(this);
    this.tcp = new TcpLayer(this);
    const lo = new NetInterface(1, 'lo', undefined, (f) => this.loopback(lo, f));
    lo.addrs.push({ ip: 0x7f00_0001, prefix: 8, source: 'kernel' });
    this.interfaces.push(lo);
    this.routes.push({ dst: { network: 0x7f00_0000, prefix: 8, mask: maskOf(8) }, via: undefined, iface: lo, proto: 'kernel', src: 0x7f00_0001 });
  }

  sleep(ms: number): Promise<void> { return this.platform.sleep(ms); }

  iface(name: string): NetInterface | undefined { return this.interfaces.find((i) => i.name === name); }

  // ---- device registration ---------------------------------------------------------------------------------------

  registerDevice(dev: NetDevice): NetDeviceHandle {
    const ifc = new NetInterface(this.interfaces.length + 1, dev.name, dev, () => {});
    this.interfaces.push(ifc);
    this.log.info(`net: ${dev.name} registered, ${dev.driver} ${formatMacShort(dev.mac)}, link ${dev.linkUp ? 'up' : 'down'}`);
    if (this.opts.dhcp) this.startDhcp(ifc);
    return {
      receive: (frame, csumValid) => this.input(ifc, frame, csumValid),
      linkChanged: () => { this.log.info(`net: ${ifc.name} link ${ifc.up ? 'up' : 'down'}`); },
    };
  }

  /** Run the DHCP client on `ifc` (again); the lease configures the address and the default route. */
  startDhcp(ifc: NetInterface): DhcpClient {
    ifc.dhcp?.stop();
    const c = new DhcpClient(this, ifc);
    ifc.dhcp = c;
    void c.run();
    return c;
  }

  /** Wait (bounded) for DHCP clients still working, so commands at boot see a configured interface. */
  async ready(): Promise<void> {
    await Promise.all(this.interfaces.map((i) => i.dhcp?.done));
  }

  // ---- configuration ---------------------------------------------------------------------------------------------

  addAddress(ifc: NetInterface, ip: number, prefix: number, source: IfAddr['source']): string | undefined {
    if (ifc.hasIp(ip)) return 'RTNETLINK answers: File exists';
    if (source === 'static' && ifc.dhcp && !ifc.dhcp.finished) ifc.dhcp.stop();
    ifc.addrs.push({ ip, prefix, source });
    const mask = maskOf(prefix);
    const network = (ip & mask) >>> 0;
    if (prefix < 32 && !this.routes.some((r) => r.iface === ifc && r.dst.network === network && r.dst.prefix === prefix)) {
      this.routes.push({ dst: { network, prefix, mask }, via: undefined, iface: ifc, proto: 'kernel', src: ip });
    }
    this.log.info(`net: ${ifc.name} ${formatIpv4(ip)}/${prefix} (${source})`);
    return undefined;
  }

  delAddress(ifc: NetInterface, ip: number): string | undefined {
    const i = ifc.addrs.findIndex((a) => a.ip === ip);
    if (i < 0) return 'RTNETLINK answers: Cannot assign requested address';
    ifc.addrs.splice(i, 1);
    for (let r = this.routes.length - 1; r >= 0; r--) {
      const rt = this.routes[r]!;
      if (rt.iface === ifc && rt.proto === 'kernel' && rt.src === ip) this.routes.splice(r, 1);
    }
    return undefined;
  }

  addRoute(dst: Cidr, via: number | undefined, ifc: NetInterface | undefined, proto: Route['proto']): string | undefined {
    if (this.routes.some((r) => r.dst.network === dst.network && r.dst.prefix === dst.prefix)) return 'RTNETLINK answers: File exists';
    let out = ifc;
    if (via !== undefined) {
      const hop = this.lookupConnected(via);
      if (!hop || (ifc && hop.iface !== ifc)) return 'RTNETLINK answers: Network is unreachable';
      out = hop.iface;
    }
    if (!out) return 'RTNETLINK answers: No such device';
    this.routes.push({ dst, via, iface: out, proto, src: undefined });
    return undefined;
  }

  delRoute(dst: Cidr): string | undefined {
    const i = this.routes.findIndex((r) => r.dst.network === dst.network && r.dst.prefix === dst.prefix);
    if (i < 0) return 'RTNETLINK answers: No such process';
    this.routes.splice(i, 1);
    return undefined;
  }

  private lookupConnected(ip: number): Route | undefined {
    return this.routes.filter((r) => r.via === undefined && ((ip & r.dst.mask) >>> 0) === r.dst.network)
      .sort((a, b) => b.dst.prefix - a.dst.prefix)[0];
  }

  /** Longest-prefix match; returns the interface, next hop and source address. */
  route(dst: number): { iface: NetInterface; nextHop: number; src: number } | undefined {
    for (const ifc of this.interfaces) if (ifc.hasIp(dst)) return { iface: this.interfaces[0]!, nextHop: dst, src: dst };
    let best: Route | undefined;
    for (const r of this.routes) {
      if (((dst & r.dst.mask) >>> 0) === r.dst.network && (!best || r.dst.prefix > best.dst.prefix)) best = r;
    }
    if (!best || !best.iface.up) return undefined;
    const src = best.src ?? best.iface.primaryIp();
    return { iface: best.iface, nextHop: best.via ?? dst, src };
  }

  /** Resolve the next hop toward `dst` now (true when its MAC is known), so a burst does not overflow the ARP queue. */
  resolveNextHop(dst: number, timeoutMs = 3000): Promise<boolean> {
    const r = this.route(dst);
    if (!r) return Promise.resolve(false);
    if (r.iface.loopback || dst === LIMITED_BROADCAST || r.iface.isBroadcast(dst)) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.arp.resolve(r.iface, r.nextHop, () => resolve(true));
      void this.platform.sleep(timeoutMs).then(() => resolve(false));
    });
  }

  // ---- input -----------------------------------------------------------------------------------------------------

  /** A frame from a device (or the loopback). Never throws: malformed input is counted and dropped. */
  input(ifc: NetInterface, frame: Uint8Array, csumValid: boolean): void {
    const c = this.counters;
    c.ethInFrames++;
    if (frame.length < ETH_HLEN) {
      c.ethInRunts++;
      return;
    }
    if (!ifc.loopback && !macEquals(frame, EthHdr.offset.dst, ifc.mac) && !macEquals(frame, EthHdr.offset.dst, BROADCAST_MAC)) {
      c.ethInNotForUs++;
      return;
    }
    const type = dv(frame).getUint16(EthHdr.offset.ethertype);
    if (type === EtherType.ARP) this.arp.input(ifc, frame);
    else if (type === EtherType.IPV4) this.ipInput(ifc, frame, csumValid);
    else c.ethInUnknownType++;
  }

  private ipInput(ifc: NetInterface, frame: Uint8Array, csumValid: boolean): void {
    const c = this.counters;
    c.ipInReceives++;
    const o = ETH_HLEN;
    if (frame.length < o + IP_HLEN) {
      c.ipInTruncated++;
      return;
    }
    const v = dv(frame);
    const h = readIpv4(v, o);
    const hlen = h.ihl * 4;
    if ((v.getUint8(o + Ipv4Hdr.offset.ver_ihl) >> 4) !== 4 || h.ihl < 5 || h.totalLength < hlen) {
      c.ipInHdrErrors++;
      return;
    }
    if (frame.length < o + h.totalLength || frame.length < o + hlen) {
      c.ipInTruncated++;
      return;
    }
    if (onesComplementSum(frame, o, o + hlen) !== 0xffff) {
      c.ipInCsumErrors++;
      return;
    }
    if ((h.flagsFrag & IP_MF) !== 0 || (h.flagsFrag & IP_OFFSET_MASK) !== 0) {
      c.ipReasmFails++; // no reassembly: fragments are dropped and counted
      return;
    }
    const local = ifc.hasIp(h.dst) || ifc.isBroadcast(h.dst) || ifc.loopback
      || (h.protocol === IpProto.UDP && ifc.dhcp !== undefined && !ifc.dhcp.finished);
    if (!local) {
      c.ipInAddrErrors++;
      return;
    }
    const d: IpDatagram = {
      iface: ifc, src: h.src, dst: h.dst, ttl: h.ttl, protocol: h.protocol,
      payload: frame.subarray(o + hlen, o + h.totalLength), csumValid: csumValid || ifc.loopback,
    };
    switch (h.protocol) {
      case IpProto.ICMP: c.ipInDelivers++; return this.icmpInput(d);
      case IpProto.UDP: c.ipInDelivers++; return this.udp.input(d);
      case IpProto.TCP: c.ipInDelivers++; return this.tcp.input(d);
      default: c.ipInUnknownProtos++;
    }
  }

  /** L4 checksum check for UDP/TCP input (skipped when the device set DATA_VALID). */
  l4ChecksumOk(d: IpDatagram): boolean {
    return d.csumValid || l4ChecksumOk(d.payload, 0, d.payload.length, d.src, d.dst, d.protocol);
  }

  private loopback(lo: NetInterface, frame: Uint8Array): void {
    queueMicrotask(() => this.input(lo, frame, true));
  }

  // ---- output ----------------------------------------------------------------------------------------------------

  /**
   * Send `l4` to `dst` as one IPv4 packet (DF set; larger than the MTU is refused). Returns false when it cannot be
   * sent at all (no route, too big); ARP resolution failures later are counted, not reported.
   */
  sendIpv4(dst: number, protocol: number, l4: Uint8Array, opts: SendOptions = {}): boolean {
    const c = this.counters;
    c.ipOutRequests++;
    let ifc: NetInterface;
    let nextHop: number;
    let src: number;
    if (opts.iface) {
      ifc = opts.iface;
      nextHop = dst;
      src = opts.src ?? ifc.primaryIp();
    } else {
      const r = this.route(dst);
      if (!r) {
        c.ipOutNoRoutes++;
        return false;
      }
      ({ iface: ifc, nextHop } = r);
      src = opts.src ?? r.src;
    }
    if (IP_HLEN + l4.length > ifc.mtu) {
      c.ipOutDiscards++;
      return false;
    }
    const frame = new Uint8Array(ETH_HLEN + IP_HLEN + l4.length);
    const l4Off = ETH_HLEN + IP_HLEN;
    frame.set(l4, l4Off);
    writeIpv4(frame, ETH_HLEN, { src, dst, protocol, ttl: opts.ttl ?? this.opts.defaultTtl, id: this.ipId++ }, l4.length);
    let csum: { start: number; offset: number } | undefined;
    if (opts.csumAt !== undefined) {
      const at = l4Off + opts.csumAt;
      if (ifc.dev?.txChecksumOffload) {
        fillPseudoChecksum(frame, frame.length, l4Off, at, src, dst, protocol);
        csum = { start: l4Off, offset: opts.csumAt };
      } else {
        fillL4Checksum(frame, l4Off, frame.length, at, src, dst, protocol);
      }
    }
    const out = (mac: Uint8Array): void => {
      writeEth(frame, mac, ifc.mac, EtherType.IPV4);
      if (ifc.dev) {
        if (!ifc.dev.transmit(frame, csum)) c.ipOutDiscards++;
      } else {
        ifc.send(frame);
      }
    };
    if (ifc.loopback) out(new Uint8Array(6));
    else if (dst === LIMITED_BROADCAST || ifc.isBroadcast(dst)) out(BROADCAST_MAC);
    else this.arp.resolve(ifc, nextHop, out);
    return true;
  }

  // ---- ICMP ------------------------------------------------------------------------------------------------------

  private icmpInput(d: IpDatagram): void {
    const c = this.counters;
    const p = d.payload;
    if (p.length < IcmpEcho.size || onesComplementSum(p, 0, p.length) !== 0xffff) {
      c.icmpInErrors++;
      return;
    }
    const v = dv(p);
    const E = IcmpEcho.offset;
    const type = v.getUint8(E.type);
    if (type === IcmpType.ECHO_REQUEST) {
      c.icmpInEchos++;
      if (d.dst === LIMITED_BROADCAST || d.iface.isBroadcast(d.dst)) return; // no broadcast pings (Linux default)
      const reply = Uint8Array.from(p);
      const rv = dv(reply);
      rv.setUint8(E.type, IcmpType.ECHO_REPLY);
      rv.setUint16(E.checksum, 0);
      rv.setUint16(E.checksum, ~onesComplementSum(reply, 0, reply.length) & 0xffff);
      c.icmpOutEchoReps++;
      this.sendIpv4(d.src, IpProto.ICMP, reply, { src: d.dst });
    } else if (type === IcmpType.ECHO_REPLY) {
      c.icmpInEchoReps++;
      const key = (v.getUint16(E.id) << 16 | v.getUint16(E.seq)) >>> 0;
      const w = this.echoWaiters.get(key);
      if (w) {
        this.echoWaiters.delete(key);
        w({ ttl: d.ttl, bytes: p.length, from: d.src });
      }
    }
  }

  /** Send one echo request; resolves with the reply, or undefined after `timeoutMs`. */
  async ping(dst: number, id: number, seq: number, dataLen: number, timeoutMs: number, ttl?: number): Promise<EchoReply | undefined | 'unreachable'> {
    const pkt = new Uint8Array(IcmpEcho.size + dataLen);
    const v = dv(pkt);
    const E = IcmpEcho.offset;
    v.setUint8(E.type, IcmpType.ECHO_REQUEST);
    v.setUint16(E.id, id);
    v.setUint16(E.seq, seq);
    for (let i = 0; i < dataLen; i++) pkt[IcmpEcho.size + i] = (0x10 + i) & 0xff;
    v.setUint16(E.checksum, ~onesComplementSum(pkt, 0, pkt.length) & 0xffff);
    const key = (id << 16 | seq) >>> 0;
    const reply = new Promise<EchoReply | undefined>((resolve) => {
      this.echoWaiters.set(key, resolve);
      void this.platform.sleep(timeoutMs).then(() => {
        if (this.echoWaiters.get(key) === resolve) {
          this.echoWaiters.delete(key);
          resolve(undefined);
        }
      });
    });
    this.counters.icmpOutEchos++;
    if (!this.sendIpv4(dst, IpProto.ICMP, pkt, ttl === undefined ? {} : { ttl })) {
      this.echoWaiters.delete(key);
      return 'unreachable';
    }
    return reply;
  }
}

const formatMacShort = (mac: Uint8Array): string => Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');

// The card's VPC data plane (docs/vpc.md): every frame an ENI sends or receives passes here, and nothing of it runs on
// the host CPU. Egress: validate → anti-spoofing → ARP / DHCP / link-local interception → tx allowance → security
// group egress (conntrack) → route by (VNI, destination IP): to a local ENI directly, or Geneve-encapsulated to the
// card that hosts it (mapping service). Ingress (local or decapsulated after source validation): rx allowance →
// security group ingress (conntrack) → rewrite MACs → the ENI's virtio-net device. Every drop is counted by reason.
import type { DeviceLog } from '../../devices/contract.ts';
import {
  ArpOp, EthHdr, IpProto, formatIpv4, macEquals, parseIpv4,
} from '../../devices/net-wire.ts';
import { parseMac } from '../../devices/virtio-net/net.ts';
import { trackable } from './conntrack.ts';
import { answerDhcp, isDhcpClient } from './dhcp.ts';
import { Eni, type EniConfig } from './eni.ts';
import { arpReplyFrame } from './frames.ts';
import { geneveDecap, geneveEncap, underlayFrame, type UnderlayAddr } from './geneve.ts';
import { parseFrame, type Ipv4Info } from './packet.ts';
import { SecurityGroupTable, type SecurityGroupSpec, type SgDirection } from './security-groups.ts';

/** "Fake gateway MAC": the card answers ARP for every subnet address with it, and is the source of every frame in. */
export const GATEWAY_MAC = parseMac('02:6e:69:74:72:6f');
export const IMDS_IP = parseIpv4('169.254.169.254')!;

/** One entry of the mapping service: where an instance's ENI lives. */
export interface VpcMapping {
  vni: number;
  privateIp: string;
  macAddress: string;
  instanceId: string;
  hostId: string;
  underlay: UnderlayAddr;
  securityGroupIds: string[];
}

/** A service the card answers on a link-local address (IMDS at 169.254.169.254). */
export interface LinkLocalService {
  readonly ip: number;
  handle(req: { eni: Eni; frame: Uint8Array; ip: Ipv4Info; reply(frame: Uint8Array): void }): void;
}

export interface Underlay {
  readonly local: UnderlayAddr;
  send(to: UnderlayAddr, datagram: Uint8Array): void;
}

export interface VpcDataplaneOptions {
  hostId: string;
  log: DeviceLog;
  nowNs?: () => bigint;
  nowS?: () => number;
}

interface Mapped { m: VpcMapping; ip: number }

export class VpcDataplane {
  readonly sg = new SecurityGroupTable();
  readonly counters: Record<string, number> = {};
  private readonly enis = new Map<string, Eni>();
  /** Local ENIs by `${vni}|${ip}`. */
  private readonly local = new Map<string, Eni>();
  private mappings = new Map<string, Mapped>();
  private underlay: Underlay | undefined;
  private readonly linkLocal = new Map<number, LinkLocalService>();
  private readonly nowNs: () => bigint;
  private readonly nowS: () => number;

  constructor(private readonly opts: VpcDataplaneOptions) {
    this.nowNs = opts.nowNs ?? (() => process.hrtime.bigint());
    this.nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  }

  setUnderlay(u: Underlay | undefined): void { this.underlay = u; }
  get underlayAddr(): UnderlayAddr | undefined { return this.underlay?.local; }

  /** Register a link-local responder (the IMDS hook). */
  addLinkLocal(s: LinkLocalService): void { this.linkLocal.set(s.ip, s); }

  addEni(cfg: EniConfig, deliver: (frame: Uint8Array) => void): Eni {
    if (this.enis.has(cfg.eniId)) throw new RangeError(`ENI ${cfg.eniId} already exists`);
    const eni = new Eni(cfg, deliver, this.nowNs());
    const key = `${eni.vni}|${eni.ip}`;
    if (this.local.has(key)) throw new RangeError(`${cfg.privateIp} is already in use in VPC ${eni.vni} on this card`);
    this.enis.set(cfg.eniId, eni);
    this.local.set(key, eni);
    return eni;
  }

  removeEni(eniId: string): void {
    const eni = this.enis.get(eniId);
    if (!eni) return;
    eni.mirror?.close();
    this.enis.delete(eniId);
    this.local.delete(`${eni.vni}|${eni.ip}`);
  }

  eni(eniId: string): Eni | undefined { return this.enis.get(eniId); }
  eniOf(instanceId: string): Eni | undefined { return [...this.enis.values()].find((e) => e.config.instanceId === instanceId); }
  listEnis(): Eni[] { return [...this.enis.values()]; }

  /** Replace the mapping service's table (pushed by the control plane); group membership follows from it. */
  setMappings(list: readonly VpcMapping[]): void {
    const next = new Map<string, Mapped>();
    const members = new Map<string, Set<number>>();
    for (const m of list) {
      const ip = parseIpv4(m.privateIp);
      if (ip === undefined) throw new RangeError(`mapping ${m.instanceId}: ${m.privateIp} is not an IPv4 address`);
      next.set(`${m.vni}|${ip}`, { m, ip });
      for (const g of m.securityGroupIds) {
        let s = members.get(g);
        if (!s) members.set(g, (s = new Set()));
        s.add(ip);
      }
    }
    this.mappings = next;
    this.sg.replaceMembers(members);
  }

  listMappings(): VpcMapping[] { return [...this.mappings.values()].map((x) => x.m); }

  setSecurityGroups(groups: readonly SecurityGroupSpec[]): void { this.sg.replaceGroups(groups); }

  private count(name: string): void { this.counters[name] = (this.counters[name] ?? 0) + 1; }

  // Egress: a frame the guest sent on `eni`.

  fromGuest(eni: Eni, frame: Uint8Array): void {
    eni.counters.tx_packets++;
    eni.counters.tx_bytes += frame.length;
    eni.mirror?.write(frame);
    const p = parseFrame(frame);
    if (p.kind === 'drop') return eni.drop(p.reason);
    if (eni.sourceDestCheck && !macEquals(frame, EthHdr.offset.src, eni.mac)) return eni.drop('spoofed-mac');
    if (p.kind === 'arp') return this.answerArp(eni, p.oper, p.spa, p.tpa);
    const ip = p.ip;
    if (ip.proto === IpProto.UDP && isDhcpClient(frame, ip.l4Off)) return this.answerDhcp(eni, frame, ip);
    if (eni.sourceDestCheck && ip.src !== eni.ip) return eni.drop('spoofed-ip');
    const ll = this.linkLocal.get(ip.dst);
    if (ll) {
      ll.handle({ eni, frame, ip, reply: (f) => this.deliver(eni, f) });
      return;
    }
    if (ip.dst === IMDS_IP) return eni.drop('no-link-local-service');
    if (!eni.admit('tx', frame.length, this.nowNs())) return eni.drop('tx-allowance');
    if (!this.securityCheck(eni, 'egress', ip, frame.length)) return eni.drop('sg-egress');
    this.route(eni, ip, frame);
  }

  private answerArp(eni: Eni, oper: number, spa: number, tpa: number): void {
    if (oper !== ArpOp.REQUEST) return eni.drop('arp-not-request');
    // A probe (sender 0.0.0.0, RFC 5227) or a request from the ENI's own address; anything else is spoofing.
    if (eni.sourceDestCheck && spa !== 0 && spa !== eni.ip) return eni.drop('spoofed-ip');
    // Never answer for the ENI's own address (that would look like a conflict to a probing DHCP client).
    if (tpa === eni.ip || !((tpa & eni.subnet.mask) >>> 0 === eni.subnet.network)) return eni.drop('arp-not-answered');
    this.count('arp-replies');
    this.deliver(eni, arpReplyFrame(eni.mac, spa === 0 ? eni.ip : spa, GATEWAY_MAC, tpa));
  }

  private answerDhcp(eni: Eni, frame: Uint8Array, ip: Ipv4Info): void {
    const out = answerDhcp(frame.subarray(ip.l4Off + 8, EthHdr.size + ip.totalLength), {
      mac: eni.mac, ip: eni.ip, mask: eni.subnet.mask, gatewayIp: eni.gatewayIp, gatewayMac: GATEWAY_MAC,
    });
    if (out.kind === 'drop') return eni.drop(out.reason);
    if (out.kind === 'ignore') return this.count('dhcp-ignored');
    this.count('dhcp-replies');
    this.deliver(eni, out.frame);
  }

  /** Stateful check at `eni` for direction `dir`: tracked flow, or a rule that allows it (then tracked). */
  private securityCheck(eni: Eni, dir: SgDirection, ip: Ipv4Info, bytes: number): boolean {
    const now = this.nowNs();
    const nowS = this.nowS();
    const canTrack = trackable(ip);
    if (canTrack && eni.conntrack.lookup(ip, dir, now)) {
      eni.flowLog.record(dir, ip, bytes, 'ACCEPT', nowS);
      return true;
    }
    const rule = this.sg.allows(eni.securityGroupIds, {
      direction: dir, proto: ip.proto, peerIp: dir === 'egress' ? ip.dst : ip.src, port: ip.dstPort, icmpType: ip.icmpType, icmpCode: ip.icmpCode,
    });
    if (!rule) {
      eni.flowLog.record(dir, ip, bytes, 'REJECT', nowS);
      return false;
    }
    if (canTrack && !this.sg.untracked(eni.securityGroupIds, ip.proto) && eni.conntrack.insert(ip, dir, now) === 'full') {
      eni.counters.conntrack_allowance_exceeded++;
      eni.flowLog.record(dir, ip, bytes, 'REJECT', nowS);
      return false;
    }
    eni.flowLog.record(dir, ip, bytes, 'ACCEPT', nowS);
    return true;
  }

  private route(from: Eni, ip: Ipv4Info, frame: Uint8Array): void {
    const key = `${from.vni}|${ip.dst}`;
    const dst = this.local.get(key);
    if (dst) return this.toEni(dst, ip, frame);
    const m = this.mappings.get(key);
    if (!m || m.m.hostId === this.opts.hostId) return from.drop(ip.dst === from.gatewayIp ? 'to-gateway' : 'no-route');
    if (!this.underlay) return from.drop('no-underlay');
    const datagram = geneveEncap(from.vni, frame);
    from.mirror?.write(underlayFrame(this.underlay.local, m.m.underlay, datagram));
    this.count('geneve-tx');
    this.underlay.send(m.m.underlay, datagram);
  }

  /** Ingress at a local ENI: allowance, security group, then the guest. */
  private toEni(eni: Eni, ip: Ipv4Info, frame: Uint8Array): void {
    if (!eni.admit('rx', frame.length, this.nowNs())) return eni.drop('rx-allowance');
    if (!this.securityCheck(eni, 'ingress', ip, frame.length)) return eni.drop('sg-ingress');
    const out = frame.slice();
    out.set(eni.mac, EthHdr.offset.dst);
    out.set(GATEWAY_MAC, EthHdr.offset.src);
    this.deliver(eni, out);
  }

  private deliver(eni: Eni, frame: Uint8Array): void {
    eni.counters.rx_packets++;
    eni.counters.rx_bytes += frame.length;
    eni.mirror?.write(frame);
    eni.deliver(frame);
  }

  // Underlay: a Geneve datagram from another card.

  fromUnderlay(d: Uint8Array, from: UnderlayAddr): void {
    const g = geneveDecap(d);
    if (g.kind === 'drop') return this.count(`geneve-drop.${g.reason}`);
    const p = parseFrame(g.inner);
    if (p.kind !== 'ipv4') return this.count(`geneve-drop.inner-${p.kind === 'drop' ? p.reason : 'arp'}`);
    const ip = p.ip;
    // Source validation: the inner source must be an instance the mapping service places on the sending card.
    const src = this.mappings.get(`${g.vni}|${ip.src}`);
    if (!src || src.m.underlay.address !== from.address || src.m.underlay.port !== from.port) {
      this.count('geneve-drop.source-validation');
      this.opts.log.warn({ event: 'vpc-source-validation-failed', vni: g.vni, innerSrc: formatIpv4(ip.src), from }, 'dropped a Geneve packet whose inner source does not map to the sending host');
      return;
    }
    const dst = this.local.get(`${g.vni}|${ip.dst}`);
    if (!dst) return this.count('geneve-drop.no-local-eni');
    this.count('geneve-rx');
    if (dst.mirror && this.underlay) dst.mirror.write(underlayFrame(from, this.underlay.local, d));
    this.toEni(dst, ip, g.inner.slice());
  }

  snapshot() {
    return { hostId: this.opts.hostId, underlay: this.underlay?.local ?? null, counters: { ...this.counters }, enis: this.listEnis().map((e) => e.view()), mappings: this.mappings.size };
  }
}

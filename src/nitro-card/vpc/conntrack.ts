// Connection tracking per ENI, as EC2 security groups are stateful: a flow allowed in one direction lets its return
// traffic through, and a tracked flow keeps flowing after the rule that allowed it is removed, until it goes idle
// (EC2 idle timeouts: TCP established 432000 s, UDP 30 s / 180 s once both sides spoke, ICMP and others 60 s).
// Keys are from the ENI's point of view: (proto, local ip:port, remote ip:port); ICMP echo uses the identifier.
import { IcmpType, IpProto, TcpFlag } from '../../devices/net-wire.ts';
import type { Ipv4Info } from './packet.ts';
import type { SgDirection } from './security-groups.ts';

export const CONNTRACK_TIMEOUT_S = {
  tcpEstablished: 432_000,
  tcpOther: 120,
  tcpClosing: 10,
  udp: 30,
  udpStream: 180,
  other: 60,
} as const;

export interface FlowEntry {
  readonly initiator: SgDirection;
  lastNs: bigint;
  expiresNs: bigint;
  /** Both directions have been seen (TCP: established; UDP: stream). */
  replied: boolean;
  closing: boolean;
}

export type TrackResult = 'tracked' | 'new' | 'full';

const S = 1_000_000_000n;

/** Is this a packet that can start or continue a tracked flow (TCP, UDP, ICMP echo)? */
export function trackable(ip: Ipv4Info): boolean {
  if (ip.proto === IpProto.TCP || ip.proto === IpProto.UDP) return true;
  return ip.proto === IpProto.ICMP && (ip.icmpType === IcmpType.ECHO_REQUEST || ip.icmpType === IcmpType.ECHO_REPLY);
}

export function flowKey(ip: Ipv4Info, dir: SgDirection): string {
  const icmp = ip.proto === IpProto.ICMP;
  const [local, lport, remote, rport] = dir === 'egress'
    ? [ip.src, ip.srcPort, ip.dst, icmp ? 0 : ip.dstPort]
    : [ip.dst, icmp ? ip.srcPort : ip.dstPort, ip.src, icmp ? 0 : ip.srcPort];
  return `${ip.proto}|${local}|${lport}|${remote}|${rport}`;
}

export class ConnTrack {
  private readonly flows = new Map<string, FlowEntry>();

  constructor(readonly maxFlows = 16384) {}

  get size(): number { return this.flows.size; }

  /** An existing live flow for this packet (refreshed), or undefined. */
  lookup(ip: Ipv4Info, dir: SgDirection, nowNs: bigint): FlowEntry | undefined {
    const key = flowKey(ip, dir);
    const e = this.flows.get(key);
    if (!e) return undefined;
    if (e.expiresNs <= nowNs) { this.flows.delete(key); return undefined; }
    if (dir !== e.initiator) e.replied = true;
    if (ip.proto === IpProto.TCP && (ip.tcpFlags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) e.closing = true;
    this.touch(e, ip.proto, nowNs);
    return e;
  }

  /** Start tracking a flow the rules allowed; 'full' when the table is at its limit even after expiring idle flows. */
  insert(ip: Ipv4Info, dir: SgDirection, nowNs: bigint): TrackResult {
    if (this.flows.size >= this.maxFlows) this.expire(nowNs);
    if (this.flows.size >= this.maxFlows) return 'full';
    const e: FlowEntry = { initiator: dir, lastNs: nowNs, expiresNs: nowNs, replied: false, closing: false };
    this.touch(e, ip.proto, nowNs);
    this.flows.set(flowKey(ip, dir), e);
    return 'new';
  }

  expire(nowNs: bigint): void {
    for (const [k, e] of this.flows) if (e.expiresNs <= nowNs) this.flows.delete(k);
  }

  clear(): void { this.flows.clear(); }

  private touch(e: FlowEntry, proto: number, nowNs: bigint): void {
    e.lastNs = nowNs;
    const T = CONNTRACK_TIMEOUT_S;
    const secs = proto === IpProto.TCP ? (e.closing ? T.tcpClosing : e.replied ? T.tcpEstablished : T.tcpOther)
      : proto === IpProto.UDP ? (e.replied ? T.udpStream : T.udp) : T.other;
    e.expiresNs = nowNs + BigInt(secs) * S;
  }
}

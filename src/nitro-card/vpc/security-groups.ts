// Security groups as the card enforces them (EC2 semantics, docs/vpc.md): allow-only rules by protocol, port range
// and CIDR or source/destination group; what no rule allows is denied. A group as created by the control plane has
// no inbound rules and one outbound allow-all rule, which gives EC2's "deny inbound, allow outbound" default.
// For ICMP, fromPort/toPort are the ICMP type/code (-1 = any), as in EC2's API.
import { cidrContains, IpProto, parseCidr, type Cidr } from '../../devices/net-wire.ts';

export type SgProtocol = 'tcp' | 'udp' | 'icmp' | 'all';
export type SgDirection = 'ingress' | 'egress';

/** A rule as the control plane pushes it. Exactly one of cidr / groupId names the peer. */
export interface SgRuleSpec {
  ruleId: string;
  direction: SgDirection;
  protocol: SgProtocol;
  fromPort: number;
  toPort: number;
  cidr?: string;
  groupId?: string;
}

export interface SecurityGroupSpec { groupId: string; rules: SgRuleSpec[] }

interface CompiledRule {
  readonly spec: SgRuleSpec;
  readonly proto: number; // 0 = all
  readonly cidr: Cidr | undefined;
}

/** What a rule is matched against: the peer address and the destination port (ICMP: type and code). */
export interface SgMatch { direction: SgDirection; proto: number; peerIp: number; port: number; icmpType: number; icmpCode: number }

const PROTO: Record<SgProtocol, number> = { all: 0, tcp: IpProto.TCP, udp: IpProto.UDP, icmp: IpProto.ICMP };

export class SgSpecError extends Error {}

function compile(r: SgRuleSpec): CompiledRule {
  if ((r.cidr === undefined) === (r.groupId === undefined)) throw new SgSpecError(`rule ${r.ruleId}: give exactly one of cidr and groupId`);
  const cidr = r.cidr === undefined ? undefined : parseCidr(r.cidr);
  if (r.cidr !== undefined && !cidr) throw new SgSpecError(`rule ${r.ruleId}: ${r.cidr} is not an IPv4 CIDR block`);
  return { spec: r, proto: PROTO[r.protocol], cidr };
}

/** The card's copy of every security group, and which ENI addresses are members of each (for group rules). */
export class SecurityGroupTable {
  private groups = new Map<string, CompiledRule[]>();
  private members = new Map<string, Set<number>>();

  /** Replace all groups (the control plane pushes the full set). Throws SgSpecError, leaving the old set, if invalid. */
  replaceGroups(specs: readonly SecurityGroupSpec[]): void {
    const next = new Map<string, CompiledRule[]>();
    for (const g of specs) next.set(g.groupId, g.rules.map(compile));
    this.groups = next;
  }

  /** Replace group membership: groupId → member private IPs (from the mapping service). */
  replaceMembers(members: ReadonlyMap<string, ReadonlySet<number>>): void {
    this.members = new Map([...members].map(([g, s]) => [g, new Set(s)]));
  }

  has(groupId: string): boolean { return this.groups.has(groupId); }

  list(): SecurityGroupSpec[] {
    return [...this.groups].map(([groupId, rules]) => ({ groupId, rules: rules.map((r) => r.spec) }));
  }

  /** The first rule of any of `groupIds` that allows `m`, or undefined (denied). */
  allows(groupIds: readonly string[], m: SgMatch): SgRuleSpec | undefined {
    for (const g of groupIds) {
      for (const r of this.groups.get(g) ?? []) if (this.matches(r, m)) return r.spec;
    }
    return undefined;
  }

  /**
   * EC2 does not track a TCP/UDP flow when both directions allow all traffic of that protocol from/to 0.0.0.0/0;
   * ICMP is always tracked. Untracked flows are re-checked on every packet, so rule removals cut them at once.
   */
  untracked(groupIds: readonly string[], proto: number): boolean {
    if (proto !== IpProto.TCP && proto !== IpProto.UDP) return false;
    const openAll = (dir: SgDirection) => groupIds.some((g) => (this.groups.get(g) ?? []).some((r) =>
      r.spec.direction === dir && r.cidr?.prefix === 0 && (r.proto === 0 || (r.proto === proto && r.spec.fromPort <= 0 && r.spec.toPort >= 65535))));
    return openAll('ingress') && openAll('egress');
  }

  private matches(r: CompiledRule, m: SgMatch): boolean {
    if (r.spec.direction !== m.direction) return false;
    if (r.proto !== 0 && r.proto !== m.proto) return false;
    if (r.proto === IpProto.TCP || r.proto === IpProto.UDP) {
      if (m.port < r.spec.fromPort || m.port > r.spec.toPort) return false;
    } else if (r.proto === IpProto.ICMP) {
      if (r.spec.fromPort !== -1 && r.spec.fromPort !== m.icmpType) return false;
      if (r.spec.toPort !== -1 && r.spec.toPort !== m.icmpCode) return false;
    }
    if (r.cidr) return cidrContains(r.cidr, m.peerIp);
    return r.spec.groupId !== undefined && (this.members.get(r.spec.groupId)?.has(m.peerIp) ?? false);
  }
}

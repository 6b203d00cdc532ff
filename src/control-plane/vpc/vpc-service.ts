// The VPC in the control plane: the embedded default VPC and subnet, ENI addressing at launch (MAC, private IP from
// the subnet, security groups), security-group CRUD with EC2's rules, and the mapping service — after every change
// the full mapping table and group set are pushed to every card (PUT /mgmt/v1/vpc/...), serialised so an older push
// can never overwrite a newer one. Mirror and flow-log requests are forwarded to the instance's card.
import type { FastifyBaseLogger } from 'fastify';
import type { CardRegistry } from '../cards.ts';
import { ApiError } from '../errors.ts';
import { findInstanceType } from '../catalogue.ts';
import { hexId, VpcStore, type EniRecord, type GroupRecord, type RuleDirection, type RuleProtocol, type RuleRecord, type SubnetRecord, type VpcRecord } from './vpc-store.ts';
import { cidrContains, formatIpv4, parseCidr, type Cidr } from '../../devices/net-wire.ts';
import { cardVpc, type CardUnderlay } from './card-vpc.ts';
import type { Db } from '../state/db.ts';

/** The embedded default VPC (VNI 1) with one subnet; AWS reserves the first four and the last address of a subnet. */
export const DEFAULT_VPC = { vpcId: 'vpc-00000000000000001', vni: 1, cidr: '10.0.0.0/16' } as const;
export const DEFAULT_SUBNET = { subnetId: 'subnet-00000000000000001', cidr: '10.0.0.0/24' } as const;
export const DEFAULT_GROUP_NAME = 'default';

export interface RuleInput {
  direction?: RuleDirection;
  protocol: RuleProtocol | '-1';
  fromPort?: number;
  toPort?: number;
  cidr?: string;
  sourceGroupId?: string;
  description?: string;
}

export interface GroupView extends GroupRecord { rules: RuleRecord[] }

export interface InstanceNetwork {
  networkInterfaceId: string;
  macAddress: string;
  privateIp: string;
  subnetId: string;
  vpcId: string;
  securityGroupIds: string[];
}

/** What the card gets in the launch request (`network`). */
export interface CardLaunchNetwork {
  eniId: string; macAddress: string; privateIp: string; subnetCidr: string; vni: number; securityGroupIds: string[];
  limits: { tx: CardLimits; rx: CardLimits };
}
interface Bucket { size: number; oneTimeBurst: number; refillTimeMs: number }
interface CardLimits { bandwidth: Bucket; ops: Bucket }

function cidrOf(c: string, what = 'cidr'): Cidr {
  const parsed = parseCidr(c);
  if (!parsed) throw new ApiError('InvalidParameterValue', `${what} ${JSON.stringify(c)} is not an IPv4 CIDR block without host bits`);
  return parsed;
}

function checkCidr(c: string): string {
  cidrOf(c);
  return c;
}

const overlaps = (a: Cidr, b: Cidr): boolean => cidrContains(a, b.network) || cidrContains(b, a.network);

/** Bandwidth and pps allowances from the instance type (Firecracker bucket model; docs/vpc.md "Rate limits"). */
export function limitsFor(instanceType: string): { tx: CardLimits; rx: CardLimits } {
  const net = findInstanceType(instanceType)?.network ?? { baselineGbps: 1, peakGbps: 1 };
  const refillTimeMs = 100;
  const per = 1000 / refillTimeMs;
  const pps = Math.max(100_000, Math.round(net.baselineGbps * 250_000));
  const dir: CardLimits = {
    bandwidth: {
      size: Math.round((net.baselineGbps * 1e9) / 8 / per),
      oneTimeBurst: net.peakGbps > net.baselineGbps ? Math.round(((net.peakGbps - net.baselineGbps) * 1e9) / 8 * 10) : 0,
      refillTimeMs,
    },
    ops: { size: Math.round(pps / per), oneTimeBurst: 0, refillTimeMs },
  };
  return { tx: dir, rx: structuredClone(dir) };
}

export class VpcService {
  readonly store: VpcStore;
  readonly #cards: CardRegistry;
  readonly #log: FastifyBaseLogger;
  readonly #underlays = new Map<string, CardUnderlay>();
  #pushChain: Promise<void> = Promise.resolve();

  constructor(deps: { db: Db; cards: CardRegistry; log: FastifyBaseLogger }) {
    this.store = new VpcStore(deps.db);
    this.#cards = deps.cards;
    this.#log = deps.log;
    if (this.store.vpcs().length === 0) {
      const now = new Date().toISOString();
      this.store.insertVpc({ vpcId: DEFAULT_VPC.vpcId, cidrBlock: DEFAULT_VPC.cidr, vni: DEFAULT_VPC.vni, isDefault: true, createTime: now });
      this.store.insertSubnet({ subnetId: DEFAULT_SUBNET.subnetId, vpcId: DEFAULT_VPC.vpcId, cidrBlock: DEFAULT_SUBNET.cidr, isDefault: true, createTime: now });
    }
    for (const v of this.store.vpcs()) this.#ensureDefaultGroup(v.vpcId);
  }

  /** EC2's default group of a VPC: inbound from members of the group itself, all outbound. */
  #ensureDefaultGroup(vpcId: string): void {
    if (!this.store.groupByName(vpcId, DEFAULT_GROUP_NAME)) {
      const g = this.#insertGroup(DEFAULT_GROUP_NAME, `default security group of ${vpcId}`, vpcId);
      this.store.insertRules([
        this.#rule(g.groupId, { direction: 'ingress', protocol: 'all', sourceGroupId: g.groupId, description: 'members of this group' }),
        this.#rule(g.groupId, { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', description: 'all outbound' }),
      ]);
    }
  }

  defaultGroupId(vpcId: string = DEFAULT_VPC.vpcId): string { return this.store.groupByName(vpcId, DEFAULT_GROUP_NAME)!.groupId; }

  // VPCs and subnets

  vpcs(): VpcRecord[] { return this.store.vpcs(); }

  vpc(vpcId: string): VpcRecord {
    const v = this.store.vpcs().find((x) => x.vpcId === vpcId);
    if (!v) throw new ApiError('InvalidVpcID.NotFound', `The vpc ID ${JSON.stringify(vpcId)} does not exist`);
    return v;
  }

  /** A new VPC (/16–/28, as AWS): the next VNI, its default security group; address ranges may overlap other VPCs'. */
  createVpc(input: { cidrBlock: string }): VpcRecord {
    const c = cidrOf(input.cidrBlock, 'cidrBlock');
    if (c.prefix < 16 || c.prefix > 28) throw new ApiError('InvalidParameterValue', `cidrBlock ${input.cidrBlock}: the prefix must be /16 to /28`);
    const vni = Math.max(0, ...this.store.vpcs().map((v) => v.vni)) + 1;
    const v: VpcRecord = { vpcId: hexId('vpc'), cidrBlock: input.cidrBlock, vni, isDefault: false, createTime: new Date().toISOString() };
    this.store.insertVpc(v);
    this.#ensureDefaultGroup(v.vpcId);
    void this.push();
    return v;
  }

  subnets(): SubnetRecord[] { return this.store.subnets(); }

  subnet(subnetId: string): SubnetRecord {
    const s = this.store.subnets().find((x) => x.subnetId === subnetId);
    if (!s) throw new ApiError('InvalidSubnetID.NotFound', `The subnet ID ${JSON.stringify(subnetId)} does not exist`);
    return s;
  }

  /** A subnet inside its VPC's block, not overlapping the VPC's other subnets. */
  createSubnet(input: { vpcId: string; cidrBlock: string }): SubnetRecord {
    const v = this.vpc(input.vpcId);
    const c = cidrOf(input.cidrBlock, 'cidrBlock');
    if (c.prefix < 16 || c.prefix > 28) throw new ApiError('InvalidParameterValue', `cidrBlock ${input.cidrBlock}: the prefix must be /16 to /28`);
    const vc = cidrOf(v.cidrBlock);
    if (c.prefix < vc.prefix || !cidrContains(vc, c.network)) throw new ApiError('InvalidSubnet.Range', `The CIDR ${input.cidrBlock} is not within ${v.vpcId}'s ${v.cidrBlock}`);
    const clash = this.store.subnets().find((s) => s.vpcId === v.vpcId && overlaps(cidrOf(s.cidrBlock), c));
    if (clash) throw new ApiError('InvalidSubnet.Conflict', `The CIDR ${input.cidrBlock} overlaps ${clash.subnetId} (${clash.cidrBlock})`);
    const s: SubnetRecord = { subnetId: hexId('subnet'), vpcId: v.vpcId, cidrBlock: input.cidrBlock, isDefault: false, createTime: new Date().toISOString() };
    this.store.insertSubnet(s);
    return s;
  }

  // Security groups

  createGroup(input: { groupName: string; description?: string; vpcId?: string }): GroupView {
    const vpcId = this.vpc(input.vpcId ?? DEFAULT_VPC.vpcId).vpcId;
    if (this.store.groupByName(vpcId, input.groupName)) throw new ApiError('InvalidGroup.Duplicate', `The security group ${JSON.stringify(input.groupName)} already exists in ${vpcId}`);
    const g = this.#insertGroup(input.groupName, input.description ?? '', vpcId);
    this.store.insertRules([this.#rule(g.groupId, { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', description: 'all outbound' })]);
    void this.push();
    return this.group(g.groupId);
  }

  group(groupId: string): GroupView {
    const g = this.store.group(groupId);
    if (!g) throw new ApiError('InvalidGroup.NotFound', `The security group ${JSON.stringify(groupId)} does not exist`);
    return { ...g, rules: this.store.rules(groupId) };
  }

  groups(): GroupView[] {
    return this.store.groups().map((g) => ({ ...g, rules: this.store.rules(g.groupId) }));
  }

  async deleteGroup(groupId: string): Promise<void> {
    const g = this.group(groupId);
    if (g.groupName === DEFAULT_GROUP_NAME) throw new ApiError('DependencyViolation', 'The default security group cannot be deleted');
    const users = this.store.liveMembers(groupId);
    if (users.length > 0) throw new ApiError('DependencyViolation', `Security group ${groupId} is used by ${users.join(', ')}`);
    const refs = this.store.groupsReferencing(groupId);
    if (refs.length > 0) throw new ApiError('DependencyViolation', `Security group ${groupId} is named by rules of ${refs.join(', ')}`);
    this.store.deleteGroup(groupId);
    await this.push();
  }

  async addRules(groupId: string, inputs: readonly RuleInput[]): Promise<GroupView> {
    const existing = this.group(groupId).rules;
    const fresh = inputs.map((r) => this.#rule(groupId, r));
    const same = (a: RuleRecord, b: RuleRecord) => a.direction === b.direction && a.protocol === b.protocol && a.fromPort === b.fromPort
      && a.toPort === b.toPort && a.cidr === b.cidr && a.sourceGroupId === b.sourceGroupId;
    for (const [i, r] of fresh.entries()) {
      if (existing.some((e) => same(e, r)) || fresh.slice(0, i).some((e) => same(e, r))) {
        throw new ApiError('InvalidPermission.Duplicate', `The ${r.direction} rule ${r.protocol} ${r.fromPort}-${r.toPort} ${r.cidr ?? r.sourceGroupId} already exists in ${groupId}`);
      }
    }
    this.store.insertRules(fresh);
    await this.push();
    return this.group(groupId);
  }

  async removeRule(groupId: string, ruleId: string): Promise<GroupView> {
    this.group(groupId);
    if (!this.store.deleteRule(groupId, ruleId)) throw new ApiError('InvalidPermission.NotFound', `Security group ${groupId} has no rule ${JSON.stringify(ruleId)}`);
    await this.push();
    return this.group(groupId);
  }

  #insertGroup(name: string, description: string, vpcId: string): GroupRecord {
    const g: GroupRecord = { groupId: hexId('sg'), groupName: name, description, vpcId, createTime: new Date().toISOString() };
    this.store.insertGroup(g);
    return g;
  }

  /** Validate a rule the EC2 way and give it an id. */
  #rule(groupId: string, r: RuleInput): RuleRecord {
    const protocol: RuleProtocol = r.protocol === '-1' ? 'all' : r.protocol;
    const direction = r.direction ?? 'ingress';
    if ((r.cidr === undefined) === (r.sourceGroupId === undefined)) throw new ApiError('InvalidParameterValue', 'A rule needs exactly one of cidr and sourceGroupId');
    if (r.sourceGroupId !== undefined && !this.store.group(r.sourceGroupId)) throw new ApiError('InvalidGroup.NotFound', `The security group ${JSON.stringify(r.sourceGroupId)} does not exist`);
    let fromPort = r.fromPort ?? -1;
    let toPort = r.toPort ?? -1;
    if (protocol === 'tcp' || protocol === 'udp') {
      if (r.fromPort === undefined || r.toPort === undefined) throw new ApiError('InvalidParameterValue', `A ${protocol} rule needs fromPort and toPort`);
      if (fromPort < 0 || toPort > 65535 || fromPort > toPort) throw new ApiError('InvalidParameterValue', `Port range ${fromPort}-${toPort} is not within 0-65535 with fromPort ≤ toPort`);
    } else if (protocol === 'icmp') {
      if (fromPort < -1 || fromPort > 255 || toPort < -1 || toPort > 255) throw new ApiError('InvalidParameterValue', `ICMP type ${fromPort} / code ${toPort} must be -1..255`);
    } else {
      fromPort = -1;
      toPort = -1;
    }
    return {
      ruleId: hexId('sgr'), groupId, direction, protocol, fromPort, toPort,
      cidr: r.cidr === undefined ? null : checkCidr(r.cidr), sourceGroupId: r.sourceGroupId ?? null, description: r.description ?? '',
    };
  }

  // ENIs

  /** Allocate an ENI for a new instance (lowest free address of the subnet) and record its groups. */
  allocate(instanceId: string, instanceType: string, securityGroupIds: readonly string[] | undefined, subnetId: string = DEFAULT_SUBNET.subnetId): CardLaunchNetwork {
    const subnet = this.subnet(subnetId);
    const vpc = this.vpc(subnet.vpcId);
    const groups = securityGroupIds && securityGroupIds.length > 0 ? [...new Set(securityGroupIds)] : [this.defaultGroupId(vpc.vpcId)];
    for (const g of groups) {
      if (this.group(g).vpcId !== vpc.vpcId) throw new ApiError('InvalidParameterValue', `Security group ${g} is not in ${vpc.vpcId}, the VPC of ${subnetId}`);
    }
    const used = this.store.usedIps(subnetId);
    const c = cidrOf(subnet.cidrBlock);
    const size = 2 ** (32 - c.prefix);
    let ip: string | undefined;
    for (let h = 4; h <= size - 2 && ip === undefined; h++) {
      const cand = formatIpv4((c.network + h) >>> 0);
      if (!used.has(cand)) ip = cand;
    }
    if (ip === undefined) throw new ApiError('InsufficientInstanceCapacity', `Subnet ${subnetId} (${subnet.cidrBlock}) has no free addresses`);
    let mac: string;
    do {
      mac = ['02', ...Array.from(hexId('x').slice(2, 12).match(/../g) ?? [])].join(':');
    } while (this.store.macInUse(mac));
    const eniId = hexId('eni');
    this.store.insertEni({ instanceId, eniId, macAddress: mac, privateIp: ip, subnetId, subnetCidr: subnet.cidrBlock, vpcId: vpc.vpcId, vni: vpc.vni }, groups);
    return { eniId, macAddress: mac, privateIp: ip, subnetCidr: subnet.cidrBlock, vni: vpc.vni, securityGroupIds: groups, limits: limitsFor(instanceType) };
  }

  /** A launch that did not happen: forget its ENIs. */
  forget(instanceIds: readonly string[]): void {
    for (const id of instanceIds) this.store.deleteEni(id);
  }

  /** The instance is terminated: its address goes back to the subnet and the cards forget the mapping. */
  release(instanceId: string): void {
    if (this.store.releaseEni(instanceId)) void this.push();
  }

  describe(instanceId: string): InstanceNetwork | undefined {
    const e = this.store.eni(instanceId);
    return e && {
      networkInterfaceId: e.eniId, macAddress: e.macAddress, privateIp: e.privateIp, subnetId: e.subnetId, vpcId: e.vpcId,
      securityGroupIds: this.store.groupsOf(instanceId),
    };
  }

  eni(instanceId: string): EniRecord | undefined { return this.store.eni(instanceId); }

  // Mapping service

  /**
   * Push the mapping table (live ENI → host and its underlay address) and every group to every card. Pushes run one at
   * a time; each reads the store when it starts, so the last push always carries the newest state. Card failures are
   * logged, not thrown: an unreachable card is brought up to date by the next push.
   */
  push(): Promise<void> {
    const run = this.#pushChain.then(() => this.#pushNow());
    this.#pushChain = run.catch(() => undefined);
    return run;
  }

  #hostIdOf: (instanceId: string) => string | undefined = () => undefined;

  /** Where each instance runs (the instance store knows); set once by the app. */
  setHostLookup(fn: (instanceId: string) => string | undefined): void { this.#hostIdOf = fn; }

  async #pushNow(): Promise<void> {
    const cards = this.#cards.all();
    await Promise.all(cards.map(async (c) => {
      if (this.#underlays.has(c.hostId)) return;
      try { this.#underlays.set(c.hostId, await cardVpc(c).underlay()); } catch (e) {
        this.#log.warn({ err: e, hostId: c.hostId }, 'could not learn the card\'s Geneve underlay address');
      }
    }));
    const mappings = this.store.liveEnis().flatMap((e) => {
      const hostId = this.#hostIdOf(e.instanceId);
      const underlay = hostId === undefined ? undefined : this.#underlays.get(hostId);
      if (hostId === undefined || !underlay) return [];
      return [{ vni: e.vni, privateIp: e.privateIp, macAddress: e.macAddress, instanceId: e.instanceId, hostId, underlay, securityGroupIds: this.store.groupsOf(e.instanceId) }];
    });
    const securityGroups = this.groups().map((g) => ({
      groupId: g.groupId,
      rules: g.rules.map((r) => ({
        ruleId: r.ruleId, direction: r.direction, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort,
        ...(r.cidr !== null ? { cidr: r.cidr } : {}), ...(r.sourceGroupId !== null ? { groupId: r.sourceGroupId } : {}),
      })),
    }));
    await Promise.all(cards.map(async (c) => {
      try {
        await cardVpc(c).putSecurityGroups(securityGroups);
        await cardVpc(c).putMappings(mappings);
      } catch (e) {
        this.#underlays.delete(c.hostId); // a restarted card may have a new underlay address
        this.#log.warn({ err: e, hostId: c.hostId }, 'VPC state push to card failed; the next change retries');
      }
    }));
  }
}

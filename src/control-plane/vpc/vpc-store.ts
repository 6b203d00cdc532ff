// VPC state in the control plane's SQLite store: ENIs (one per instance: MAC, private IP, subnet), security groups,
// their rules, and which groups each instance is in. The tables are created here (IF NOT EXISTS, all prefixed vpc_)
// so this module needs no slot in the shared migration list.
import { randomBytes } from 'node:crypto';
import { prepared, type Db } from '../state/db.ts';

export interface EniRecord {
  instanceId: string;
  eniId: string;
  macAddress: string;
  privateIp: string;
  subnetId: string;
  subnetCidr: string;
  vpcId: string;
  vni: number;
  released: boolean;
}

export type RuleDirection = 'ingress' | 'egress';
export type RuleProtocol = 'tcp' | 'udp' | 'icmp' | 'all';

export interface RuleRecord {
  ruleId: string;
  groupId: string;
  direction: RuleDirection;
  protocol: RuleProtocol;
  fromPort: number;
  toPort: number;
  cidr: string | null;
  sourceGroupId: string | null;
  description: string;
}

export interface VpcRecord { vpcId: string; cidrBlock: string; vni: number; isDefault: boolean; createTime: string }
export interface SubnetRecord { subnetId: string; vpcId: string; cidrBlock: string; isDefault: boolean; createTime: string }

export interface GroupRecord {
  groupId: string;
  groupName: string;
  description: string;
  vpcId: string;
  createTime: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS vpc_vpcs (
    id TEXT PRIMARY KEY, cidr TEXT NOT NULL, vni INTEGER NOT NULL UNIQUE, is_default INTEGER NOT NULL, created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS vpc_subnets (
    id TEXT PRIMARY KEY, vpc_id TEXT NOT NULL REFERENCES vpc_vpcs(id), cidr TEXT NOT NULL, is_default INTEGER NOT NULL, created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS vpc_enis (
    instance_id TEXT PRIMARY KEY, eni_id TEXT NOT NULL UNIQUE, mac TEXT NOT NULL, private_ip TEXT NOT NULL,
    subnet_id TEXT NOT NULL, subnet_cidr TEXT NOT NULL, vpc_id TEXT NOT NULL, vni INTEGER NOT NULL, released INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS vpc_security_groups (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, vpc_id TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (vpc_id, name)
  );
  CREATE TABLE IF NOT EXISTS vpc_sg_rules (
    id TEXT PRIMARY KEY, group_id TEXT NOT NULL REFERENCES vpc_security_groups(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    direction TEXT NOT NULL, protocol TEXT NOT NULL, from_port INTEGER NOT NULL, to_port INTEGER NOT NULL,
    cidr TEXT, source_group_id TEXT, description TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS vpc_instance_groups (
    instance_id TEXT NOT NULL, group_id TEXT NOT NULL, PRIMARY KEY (instance_id, group_id)
  );
`;

export function hexId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

interface EniRow { instance_id: string; eni_id: string; mac: string; private_ip: string; subnet_id: string; subnet_cidr: string; vpc_id: string; vni: number; released: number }
interface RuleRow { id: string; group_id: string; direction: RuleDirection; protocol: RuleProtocol; from_port: number; to_port: number; cidr: string | null; source_group_id: string | null; description: string }
interface GroupRow { id: string; name: string; description: string; vpc_id: string; created_at: string }

const eniOf = (r: EniRow): EniRecord => ({
  instanceId: r.instance_id, eniId: r.eni_id, macAddress: r.mac, privateIp: r.private_ip, subnetId: r.subnet_id,
  subnetCidr: r.subnet_cidr, vpcId: r.vpc_id, vni: r.vni, released: r.released === 1,
});
const ruleOf = (r: RuleRow): RuleRecord => ({
  ruleId: r.id, groupId: r.group_id, direction: r.direction, protocol: r.protocol, fromPort: r.from_port, toPort: r.to_port,
  cidr: r.cidr, sourceGroupId: r.source_group_id, description: r.description,
});
const groupOf = (r: GroupRow): GroupRecord => ({ groupId: r.id, groupName: r.name, description: r.description, vpcId: r.vpc_id, createTime: r.created_at });

export class VpcStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    db.exec(SCHEMA);
  }

  // VPCs and subnets

  insertVpc(v: VpcRecord): void {
    prepared(this.#db, 'INSERT INTO vpc_vpcs (id, cidr, vni, is_default, created_at) VALUES (?, ?, ?, ?, ?)').run(v.vpcId, v.cidrBlock, v.vni, v.isDefault ? 1 : 0, v.createTime);
  }

  vpcs(): VpcRecord[] {
    return (prepared(this.#db, 'SELECT * FROM vpc_vpcs ORDER BY vni').all() as { id: string; cidr: string; vni: number; is_default: number; created_at: string }[])
      .map((r) => ({ vpcId: r.id, cidrBlock: r.cidr, vni: r.vni, isDefault: r.is_default === 1, createTime: r.created_at }));
  }

  insertSubnet(s: SubnetRecord): void {
    prepared(this.#db, 'INSERT INTO vpc_subnets (id, vpc_id, cidr, is_default, created_at) VALUES (?, ?, ?, ?, ?)').run(s.subnetId, s.vpcId, s.cidrBlock, s.isDefault ? 1 : 0, s.createTime);
  }

  subnets(): SubnetRecord[] {
    return (prepared(this.#db, 'SELECT * FROM vpc_subnets ORDER BY created_at, id').all() as { id: string; vpc_id: string; cidr: string; is_default: number; created_at: string }[])
      .map((r) => ({ subnetId: r.id, vpcId: r.vpc_id, cidrBlock: r.cidr, isDefault: r.is_default === 1, createTime: r.created_at }));
  }

  // ENIs

  /** Private IPs in use (not released) in a subnet. */
  usedIps(subnetId: string): Set<string> {
    const rows = prepared(this.#db, 'SELECT private_ip FROM vpc_enis WHERE subnet_id = ? AND released = 0').all(subnetId) as { private_ip: string }[];
    return new Set(rows.map((r) => r.private_ip));
  }

  macInUse(mac: string): boolean {
    return prepared(this.#db, 'SELECT 1 FROM vpc_enis WHERE mac = ? AND released = 0').get(mac) !== undefined;
  }

  insertEni(e: Omit<EniRecord, 'released'>, groupIds: readonly string[]): void {
    const ins = prepared(this.#db, `INSERT INTO vpc_enis (instance_id, eni_id, mac, private_ip, subnet_id, subnet_cidr, vpc_id, vni, released)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)`);
    const grp = prepared(this.#db, 'INSERT INTO vpc_instance_groups (instance_id, group_id) VALUES (?, ?)');
    this.#db.transaction(() => {
      ins.run(e.instanceId, e.eniId, e.macAddress, e.privateIp, e.subnetId, e.subnetCidr, e.vpcId, e.vni);
      for (const g of groupIds) grp.run(e.instanceId, g);
    })();
  }

  /** Give the address back (terminated), keeping the record for describe. */
  releaseEni(instanceId: string): boolean {
    return prepared(this.#db, 'UPDATE vpc_enis SET released = 1 WHERE instance_id = ? AND released = 0').run(instanceId).changes > 0;
  }

  /** Forget an ENI entirely (a launch that never happened). */
  deleteEni(instanceId: string): void {
    this.#db.transaction(() => {
      prepared(this.#db, 'DELETE FROM vpc_enis WHERE instance_id = ?').run(instanceId);
      prepared(this.#db, 'DELETE FROM vpc_instance_groups WHERE instance_id = ?').run(instanceId);
    })();
  }

  eni(instanceId: string): EniRecord | undefined {
    const r = prepared(this.#db, 'SELECT * FROM vpc_enis WHERE instance_id = ?').get(instanceId) as EniRow | undefined;
    return r && eniOf(r);
  }

  liveEnis(): EniRecord[] {
    return (prepared(this.#db, 'SELECT * FROM vpc_enis WHERE released = 0 ORDER BY private_ip').all() as EniRow[]).map(eniOf);
  }

  groupsOf(instanceId: string): string[] {
    return (prepared(this.#db, 'SELECT group_id FROM vpc_instance_groups WHERE instance_id = ? ORDER BY group_id').all(instanceId) as { group_id: string }[]).map((r) => r.group_id);
  }

  /** Instances (with a live ENI) in a group. */
  liveMembers(groupId: string): string[] {
    return (prepared(this.#db, `SELECT g.instance_id FROM vpc_instance_groups g JOIN vpc_enis e ON e.instance_id = g.instance_id
      WHERE g.group_id = ? AND e.released = 0`).all(groupId) as { instance_id: string }[]).map((r) => r.instance_id);
  }

  // Security groups

  insertGroup(g: GroupRecord): void {
    prepared(this.#db, 'INSERT INTO vpc_security_groups (id, name, description, vpc_id, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(g.groupId, g.groupName, g.description, g.vpcId, g.createTime);
  }

  group(groupId: string): GroupRecord | undefined {
    const r = prepared(this.#db, 'SELECT * FROM vpc_security_groups WHERE id = ?').get(groupId) as GroupRow | undefined;
    return r && groupOf(r);
  }

  groupByName(vpcId: string, name: string): GroupRecord | undefined {
    const r = prepared(this.#db, 'SELECT * FROM vpc_security_groups WHERE vpc_id = ? AND name = ?').get(vpcId, name) as GroupRow | undefined;
    return r && groupOf(r);
  }

  groups(): GroupRecord[] {
    return (prepared(this.#db, 'SELECT * FROM vpc_security_groups ORDER BY created_at, id').all() as GroupRow[]).map(groupOf);
  }

  deleteGroup(groupId: string): void {
    prepared(this.#db, 'DELETE FROM vpc_security_groups WHERE id = ?').run(groupId);
  }

  /** Groups whose rules name `groupId` as their source/destination. */
  groupsReferencing(groupId: string): string[] {
    return (prepared(this.#db, 'SELECT DISTINCT group_id FROM vpc_sg_rules WHERE source_group_id = ? AND group_id != ?').all(groupId, groupId) as { group_id: string }[]).map((r) => r.group_id);
  }

  rules(groupId: string): RuleRecord[] {
    return (prepared(this.#db, 'SELECT * FROM vpc_sg_rules WHERE group_id = ? ORDER BY seq').all(groupId) as RuleRow[]).map(ruleOf);
  }

  insertRules(rules: readonly RuleRecord[]): void {
    const seq = prepared(this.#db, 'SELECT COALESCE(MAX(seq), 0) AS s FROM vpc_sg_rules');
    const ins = prepared(this.#db, `INSERT INTO vpc_sg_rules (id, group_id, seq, direction, protocol, from_port, to_port, cidr, source_group_id, description)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#db.transaction(() => {
      for (const r of rules) {
        const next = (seq.get() as { s: number }).s + 1;
        ins.run(r.ruleId, r.groupId, next, r.direction, r.protocol, r.fromPort, r.toPort, r.cidr, r.sourceGroupId, r.description);
      }
    })();
  }

  deleteRule(groupId: string, ruleId: string): boolean {
    return prepared(this.#db, 'DELETE FROM vpc_sg_rules WHERE group_id = ? AND id = ?').run(groupId, ruleId).changes > 0;
  }
}

// VPC flow logs per ENI (the AWS version-2 record: interface, 5-tuple, packets, bytes, start, end, ACCEPT/REJECT):
// packets are aggregated per (direction, 5-tuple, action) into a record that stays open for one aggregation
// interval, then a new one starts. The log is bounded; when full the oldest closed records go (counted).
import { formatIpv4 } from '../../devices/net-wire.ts';
import type { Ipv4Info } from './packet.ts';
import type { SgDirection } from './security-groups.ts';

export type FlowAction = 'ACCEPT' | 'REJECT';

export interface FlowLogRecord {
  version: 2;
  interfaceId: string;
  direction: SgDirection;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  packets: number;
  bytes: number;
  /** Unix seconds of the first and last packet. */
  start: number;
  end: number;
  action: FlowAction;
  logStatus: 'OK';
}

export class FlowLog {
  private readonly open = new Map<string, FlowLogRecord>();
  private readonly closed: FlowLogRecord[] = [];
  evicted = 0;

  constructor(readonly interfaceId: string, readonly intervalS = 60, readonly maxRecords = 10_000) {}

  record(dir: SgDirection, ip: Ipv4Info, bytes: number, action: FlowAction, nowS: number): void {
    const key = `${dir}|${ip.proto}|${ip.src}|${ip.srcPort}|${ip.dst}|${ip.dstPort}|${action}`;
    let r = this.open.get(key);
    if (r && nowS - r.start >= this.intervalS) {
      this.close(key, r);
      r = undefined;
    }
    if (!r) {
      if (this.open.size >= this.maxRecords) {
        const [oldKey, old] = this.open.entries().next().value as [string, FlowLogRecord];
        this.close(oldKey, old);
      }
      r = {
        version: 2, interfaceId: this.interfaceId, direction: dir, srcAddr: formatIpv4(ip.src), dstAddr: formatIpv4(ip.dst),
        srcPort: ip.srcPort, dstPort: ip.dstPort, protocol: ip.proto, packets: 0, bytes: 0, start: nowS, end: nowS, action, logStatus: 'OK',
      };
      this.open.set(key, r);
    }
    r.packets++;
    r.bytes += bytes;
    r.end = nowS;
  }

  /** Every record, closed ones first, then the open ones as they stand. */
  records(): FlowLogRecord[] {
    return [...this.closed, ...[...this.open.values()].map((r) => ({ ...r }))];
  }

  /** The AWS default text format: one space-separated line per record. */
  text(): string {
    const head = 'version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
    return [head, ...this.records().map((r) =>
      [r.version, r.interfaceId, r.srcAddr, r.dstAddr, r.srcPort, r.dstPort, r.protocol, r.packets, r.bytes, r.start, r.end, r.action, r.logStatus].join(' '))].join('\n') + '\n';
  }

  private close(key: string, r: FlowLogRecord): void {
    this.open.delete(key);
    this.closed.push(r);
    while (this.closed.length > this.maxRecords) { this.closed.shift(); this.evicted++; }
  }
}

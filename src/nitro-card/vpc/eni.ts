// One elastic network interface as the card holds it: identity (MAC, private IP, subnet, VPC), the groups it is in,
// its connection-tracking table, token buckets per direction, flow log, optional pcap mirror, and ENA-style counters.
import { cidrContains, parseCidr, parseIpv4, type Cidr } from '../../devices/net-wire.ts';
import { parseMac } from '../../devices/virtio-net/net.ts';
import { ConnTrack } from './conntrack.ts';
import { FlowLog } from './flow-log.ts';
import type { PcapWriter } from './pcap.ts';
import { TokenBucket, type EniLimits } from './token-bucket.ts';

/** What the control plane sends at launch for an instance's ENI. */
export interface EniConfig {
  eniId: string;
  instanceId: string;
  macAddress: string;
  privateIp: string;
  subnetCidr: string;
  /** VPC id as the 24-bit Geneve VNI. */
  vni: number;
  securityGroupIds: string[];
  /** Per-direction limits; absent = unlimited. */
  limits?: { tx: EniLimits; rx: EniLimits };
  /** Anti-spoofing (EC2's source/destination check). Default true. */
  sourceDestCheck?: boolean;
}

/** ENA's allowance counters (ethtool -S) plus packet/byte totals and drops by reason. */
export interface EniCounters {
  tx_packets: number; tx_bytes: number; rx_packets: number; rx_bytes: number;
  bw_in_allowance_exceeded: number; bw_out_allowance_exceeded: number; pps_allowance_exceeded: number;
  conntrack_allowance_exceeded: number; linklocal_allowance_exceeded: number;
  drops: Record<string, number>;
}

export class Eni {
  readonly mac: Uint8Array;
  readonly ip: number;
  readonly subnet: Cidr;
  /** The subnet router (first host address), which is also the DHCP server: AWS's VPC router at .1. */
  readonly gatewayIp: number;
  readonly conntrack = new ConnTrack();
  readonly flowLog: FlowLog;
  readonly counters: EniCounters = {
    tx_packets: 0, tx_bytes: 0, rx_packets: 0, rx_bytes: 0,
    bw_in_allowance_exceeded: 0, bw_out_allowance_exceeded: 0, pps_allowance_exceeded: 0,
    conntrack_allowance_exceeded: 0, linklocal_allowance_exceeded: 0, drops: {},
  };
  securityGroupIds: string[];
  mirror: PcapWriter | undefined;
  private readonly buckets: { tx: [TokenBucket, TokenBucket]; rx: [TokenBucket, TokenBucket] } | undefined;

  constructor(readonly config: EniConfig, readonly deliver: (frame: Uint8Array) => void, nowNs: bigint) {
    this.mac = parseMac(config.macAddress);
    const ip = parseIpv4(config.privateIp);
    const subnet = parseCidr(config.subnetCidr);
    if (ip === undefined || !subnet || !cidrContains(subnet, ip)) throw new RangeError(`ENI ${config.eniId}: ${config.privateIp} is not in ${config.subnetCidr}`);
    if (!(Number.isInteger(config.vni) && config.vni > 0 && config.vni < 1 << 24)) throw new RangeError(`ENI ${config.eniId}: VNI ${config.vni} is not 1..2^24-1`);
    this.ip = ip;
    this.subnet = subnet;
    this.gatewayIp = (subnet.network + 1) >>> 0;
    this.securityGroupIds = [...config.securityGroupIds];
    this.flowLog = new FlowLog(config.eniId);
    const l = config.limits;
    this.buckets = l && {
      tx: [new TokenBucket(l.tx.bandwidth, nowNs), new TokenBucket(l.tx.ops, nowNs)],
      rx: [new TokenBucket(l.rx.bandwidth, nowNs), new TokenBucket(l.rx.ops, nowNs)],
    };
  }

  get vni(): number { return this.config.vni; }
  get sourceDestCheck(): boolean { return this.config.sourceDestCheck !== false; }

  drop(reason: string): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  /** Charge one frame to the direction's buckets; false (and the ENA counter) when over the allowance. */
  admit(dir: 'tx' | 'rx', bytes: number, nowNs: bigint): boolean {
    if (!this.buckets) return true;
    const [bw, ops] = this.buckets[dir];
    if (!ops.consume(1, nowNs)) { this.counters.pps_allowance_exceeded++; return false; }
    if (!bw.consume(bytes, nowNs)) {
      if (dir === 'rx') this.counters.bw_in_allowance_exceeded++;
      else this.counters.bw_out_allowance_exceeded++;
      return false;
    }
    return true;
  }

  view() {
    return {
      eniId: this.config.eniId,
      instanceId: this.config.instanceId,
      macAddress: this.config.macAddress,
      privateIp: this.config.privateIp,
      subnetCidr: this.config.subnetCidr,
      vni: this.vni,
      securityGroupIds: this.securityGroupIds,
      sourceDestCheck: this.sourceDestCheck,
      trackedConnections: this.conntrack.size,
      mirror: this.mirror ? { path: this.mirror.path, packets: this.mirror.packets, bytes: this.mirror.bytes, dropped: this.mirror.dropped } : null,
      counters: this.counters,
    };
  }
}

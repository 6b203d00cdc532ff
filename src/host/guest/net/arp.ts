// ARP (RFC 826) for the guest: a neighbour cache with lifetimes, resolution with a bounded queue of packets waiting per
// address, request retries and a give-up that drops (and counts) what was queued. Lifetimes are checked when an entry
// is used, so an idle cache holds no timers.
import { ArpOp, ArpPkt, BROADCAST_MAC, EtherType, formatIpv4, formatMac } from '../../../devices/net-wire.ts';
import type { NetCounters } from './counters.ts';
import { dv, ETH_HLEN, writeEth } from './packet.ts';

export interface ArpIface {
  readonly name: string;
  readonly mac: Uint8Array;
  /** Our address on this interface (0 while unconfigured). */
  primaryIp(): number;
  send(frame: Uint8Array): void;
}

export interface ArpEnv {
  nowNs(): bigint;
  sleep(ms: number): Promise<void>;
  readonly counters: NetCounters;
}

export interface ArpEntry {
  readonly ip: number;
  readonly mac: Uint8Array;
  readonly iface: string;
  readonly expiresNs: bigint;
}

/** Linux defaults, roughly: reachable 30 s, 3 unicast/broadcast probes one second apart, a few packets queued. */
export const ARP_REACHABLE_MS = 30_000;
export const ARP_RETRIES = 3;
export const ARP_RETRY_MS = 1000;
export const ARP_QUEUE_LEN = 8;

interface Pending {
  readonly iface: ArpIface;
  readonly queue: ((mac: Uint8Array) => void)[];
}

export class ArpTable {
  private readonly entries = new Map<number, ArpEntry>();
  private readonly pending = new Map<number, Pending>();
  constructor(private readonly env: ArpEnv) {}

  lookup(ip: number): Uint8Array | undefined {
    const e = this.entries.get(ip);
    if (!e) return undefined;
    if (e.expiresNs < this.env.nowNs()) {
      this.entries.delete(ip);
      return undefined;
    }
    return e.mac;
  }

  list(): ArpEntry[] {
    const now = this.env.nowNs();
    return [...this.entries.values()].filter((e) => e.expiresNs >= now);
  }

  flush(): void { this.entries.clear(); }

  learn(iface: ArpIface, ip: number, mac: Uint8Array): void {
    this.entries.set(ip, { ip, mac: Uint8Array.from(mac), iface: iface.name, expiresNs: this.env.nowNs() + BigInt(ARP_REACHABLE_MS) * 1_000_000n });
    const p = this.pending.get(ip);
    if (p) {
      this.pending.delete(ip);
      for (const send of p.queue) send(mac);
    }
  }

  /** Run `send` with the MAC of `ip` now if known, else after resolution (or never, counted, if it fails). */
  resolve(iface: ArpIface, ip: number, send: (mac: Uint8Array) => void): void {
    const mac = this.lookup(ip);
    if (mac) return send(mac);
    const p = this.pending.get(ip);
    if (p) {
      if (p.queue.length >= ARP_QUEUE_LEN) {
        this.env.counters.arpQueueDrops++;
        return;
      }
      p.queue.push(send);
      return;
    }
    this.pending.set(ip, { iface, queue: [send] });
    void this.solicit(iface, ip);
  }

  private async solicit(iface: ArpIface, ip: number): Promise<void> {
    for (let i = 0; i < ARP_RETRIES; i++) {
      if (!this.pending.has(ip)) return;
      this.sendRequest(iface, ip);
      await this.env.sleep(ARP_RETRY_MS);
    }
    const p = this.pending.get(ip);
    if (!p) return;
    this.pending.delete(ip);
    this.env.counters.arpUnresolved++;
    this.env.counters.ipOutDiscards += p.queue.length;
  }

  sendRequest(iface: ArpIface, ip: number): void {
    this.env.counters.arpOutRequests++;
    iface.send(arpFrame(ArpOp.REQUEST, BROADCAST_MAC, iface.mac, iface.primaryIp(), new Uint8Array(6), ip));
  }

  /** An ARP packet arrived on `iface` (frame includes the Ethernet header). */
  input(iface: ArpIface, frame: Uint8Array): void {
    const c = this.env.counters;
    if (frame.length < ETH_HLEN + ArpPkt.size) {
      c.arpInErrors++;
      return;
    }
    const v = dv(frame);
    const A = ArpPkt.offset;
    const o = ETH_HLEN;
    if (v.getUint16(o + A.htype) !== 1 || v.getUint16(o + A.ptype) !== EtherType.IPV4 || v.getUint8(o + A.hlen) !== 6 || v.getUint8(o + A.plen) !== 4) {
      c.arpInErrors++;
      return;
    }
    const op = v.getUint16(o + A.oper);
    const sha = frame.slice(o + A.sha, o + A.sha + 6);
    const spa = v.getUint32(o + A.spa);
    const tpa = v.getUint32(o + A.tpa);
    const mine = iface.primaryIp();
    // RFC 826: update an existing entry for the sender; add one if the packet is for us.
    if (spa !== 0 && (this.entries.has(spa) || this.pending.has(spa) || (mine !== 0 && tpa === mine))) this.learn(iface, spa, sha);
    if (op === ArpOp.REQUEST) {
      c.arpInRequests++;
      if (mine !== 0 && tpa === mine) {
        c.arpOutReplies++;
        iface.send(arpFrame(ArpOp.REPLY, sha, iface.mac, mine, sha, spa));
      }
    } else if (op === ArpOp.REPLY) {
      c.arpInReplies++;
    } else {
      c.arpInErrors++;
    }
  }
}

export function arpFrame(op: number, ethDst: Uint8Array, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + ArpPkt.size);
  writeEth(f, ethDst, sha, EtherType.ARP);
  const v = dv(f);
  const A = ArpPkt.offset;
  const o = ETH_HLEN;
  v.setUint16(o + A.htype, 1);
  v.setUint16(o + A.ptype, EtherType.IPV4);
  v.setUint8(o + A.hlen, 6);
  v.setUint8(o + A.plen, 4);
  v.setUint16(o + A.oper, op);
  f.set(sha.subarray(0, 6), o + A.sha);
  v.setUint32(o + A.spa, spa >>> 0);
  f.set(tha.subarray(0, 6), o + A.tha);
  v.setUint32(o + A.tpa, tpa >>> 0);
  return f;
}

export const describeArp = (e: ArpEntry): string => `${formatIpv4(e.ip)} dev ${e.iface} lladdr ${formatMac(e.mac)} REACHABLE`;

// A small DHCP client (RFC 2131 §4.4, options RFC 2132): DISCOVER → OFFER → REQUEST → ACK from 0.0.0.0:68 to
// 255.255.255.255:67, with retries and backoff. The lease configures the address (option 1 subnet mask), the default
// route (option 3) and name servers (option 6); options 51 (lease time) and 54 (server id) are kept for `ip addr`.
// Lease renewal is not implemented: the lease is treated as permanent (the card's leases are per instance lifetime).
import {
  DHCP_MAGIC, DhcpHdr, DhcpMsg, DhcpOpt, DhcpPort, formatIpv4,
} from '../../../devices/net-wire.ts';
import { dv } from './packet.ts';
import type { NetInterface, NetStack } from './stack.ts';
import type { UdpSocket } from './udp.ts';

export interface DhcpLease {
  readonly ip: number;
  readonly prefix: number;
  readonly router: number | undefined;
  readonly dns: readonly number[];
  readonly server: number;
  readonly leaseSeconds: number;
}

/** Wait per attempt, doubling (RFC 2131 §4.1 suggests 4 s, 8 s, …; shorter here so a VPC without DHCP boots fast). */
export const DHCP_FIRST_WAIT_MS = 1000;
export const DHCP_ATTEMPTS = 4;
const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const FLAG_BROADCAST = 0x8000;

interface Parsed { readonly type: number; readonly yiaddr: number; readonly opts: Map<number, Uint8Array> }

export class DhcpClient {
  lease: DhcpLease | undefined;
  finished = false;
  readonly done: Promise<void>;
  private finish!: () => void;
  private stopped = false;
  private sock: UdpSocket | undefined;
  private readonly ac = new AbortController();

  constructor(private readonly stack: NetStack, private readonly ifc: NetInterface) {
    this.done = new Promise((r) => { this.finish = r; });
  }

  stop(): void {
    this.stopped = true;
    this.ac.abort();
    this.end();
  }

  private end(): void {
    this.finished = true;
    this.sock?.close();
    this.sock = undefined;
    this.finish();
  }

  async run(): Promise<DhcpLease | undefined> {
    const log = this.stack.log;
    try {
      this.sock = this.stack.udp.bind(DhcpPort.CLIENT);
    } catch (err) {
      log.warn(`dhcp ${this.ifc.name}: ${String(err)}`);
      this.end();
      return undefined;
    }
    try {
      let wait = DHCP_FIRST_WAIT_MS;
      for (let attempt = 0; attempt < DHCP_ATTEMPTS && !this.stopped; attempt++, wait *= 2) {
        const xid = Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
        this.send(DhcpMsg.DISCOVER, xid, []);
        const offer = await this.await(xid, [DhcpMsg.OFFER], wait);
        if (!offer) continue;
        const server = u32(offer.opts.get(DhcpOpt.SERVER_ID));
        if (server === undefined) continue;
        this.send(DhcpMsg.REQUEST, xid, [[DhcpOpt.REQUESTED_IP, be32(offer.yiaddr)], [DhcpOpt.SERVER_ID, be32(server)]]);
        const ack = await this.await(xid, [DhcpMsg.ACK, DhcpMsg.NAK], wait);
        if (!ack || ack.type === DhcpMsg.NAK) continue;
        return this.bind(ack, server);
      }
      if (!this.stopped) log.warn(`dhcp ${this.ifc.name}: no lease after ${DHCP_ATTEMPTS} attempts`);
      return undefined;
    } finally {
      this.end();
    }
  }

  private bind(ack: Parsed, server: number): DhcpLease {
    const mask = u32(ack.opts.get(DhcpOpt.SUBNET_MASK)) ?? 0xffff_ff00;
    const prefix = Math.clz32(~mask >>> 0); // leading ones of a contiguous mask
    const router = u32(ack.opts.get(DhcpOpt.ROUTER));
    const dnsBytes = ack.opts.get(DhcpOpt.DNS) ?? new Uint8Array(0);
    const dns: number[] = [];
    for (let i = 0; i + 4 <= dnsBytes.length; i += 4) dns.push(dv(dnsBytes).getUint32(i));
    const lease: DhcpLease = {
      ip: ack.yiaddr, prefix, router, dns, server, leaseSeconds: u32(ack.opts.get(DhcpOpt.LEASE_TIME)) ?? 0xffff_ffff,
    };
    this.lease = lease;
    this.stack.counters.dhcpLeases++;
    this.stack.addAddress(this.ifc, lease.ip, prefix, 'dhcp');
    if (router !== undefined) this.stack.addRoute({ network: 0, prefix: 0, mask: 0 }, router, this.ifc, 'dhcp');
    this.stack.log.info(`dhcp ${this.ifc.name}: lease ${formatIpv4(lease.ip)}/${prefix} from ${formatIpv4(server)}`
      + `${router !== undefined ? ` router ${formatIpv4(router)}` : ''} lease ${lease.leaseSeconds}s`);
    return lease;
  }

  private send(type: number, xid: number, extra: readonly (readonly [number, Uint8Array])[]): void {
    const opts: [number, Uint8Array][] = [
      [DhcpOpt.MSG_TYPE, Uint8Array.of(type)],
      [DhcpOpt.PARAM_LIST, Uint8Array.of(DhcpOpt.SUBNET_MASK, DhcpOpt.ROUTER, DhcpOpt.DNS, DhcpOpt.LEASE_TIME, DhcpOpt.SERVER_ID)],
      ...extra.map(([c, b]) => [c, b] as [number, Uint8Array]),
    ];
    const optLen = opts.reduce((n, [, b]) => n + 2 + b.length, 0) + 1;
    const pkt = new Uint8Array(Math.max(300, DhcpHdr.size + optLen)); // BOOTP minimum 300 bytes
    const v = dv(pkt);
    const H = DhcpHdr.offset;
    v.setUint8(H.op, BOOTREQUEST);
    v.setUint8(H.htype, 1);
    v.setUint8(H.hlen, 6);
    v.setUint32(H.xid, xid);
    v.setUint16(H.flags, FLAG_BROADCAST);
    pkt.set(this.ifc.mac, H.chaddr);
    v.setUint32(H.magic, DHCP_MAGIC);
    let at = DhcpHdr.size;
    for (const [code, b] of opts) {
      pkt[at++] = code;
      pkt[at++] = b.length;
      pkt.set(b, at);
      at += b.length;
    }
    pkt[at] = DhcpOpt.END;
    this.stack.counters.dhcpOut++;
    this.sock?.sendto(0xffff_ffff, DhcpPort.SERVER, pkt, { src: 0, iface: this.ifc });
  }

  /** Wait for a reply of one of `types` with our xid and chaddr; undefined after `ms`. */
  private async await(xid: number, types: readonly number[], ms: number): Promise<Parsed | undefined> {
    const p = this.stack.platform;
    const deadline = p.nowNs() + BigInt(ms) * 1_000_000n;
    for (;;) {
      const left = Number(deadline - p.nowNs()) / 1e6;
      if (left <= 0 || !this.sock) return undefined;
      const d = await this.sock.recv(left, this.ac.signal);
      if (!d) return undefined;
      const m = this.parse(d.data, xid);
      if (m && types.includes(m.type)) {
        this.stack.counters.dhcpIn++;
        return m;
      }
    }
  }

  private parse(b: Uint8Array, xid: number): Parsed | undefined {
    if (b.length < DhcpHdr.size) return undefined;
    const v = dv(b);
    const H = DhcpHdr.offset;
    if (v.getUint8(H.op) !== BOOTREPLY || v.getUint32(H.xid) !== xid || v.getUint32(H.magic) !== DHCP_MAGIC) return undefined;
    for (let i = 0; i < 6; i++) if (b[H.chaddr + i] !== this.ifc.mac[i]) return undefined;
    const opts = new Map<number, Uint8Array>();
    for (let i = DhcpHdr.size; i < b.length;) {
      const code = b[i] ?? DhcpOpt.END;
      if (code === DhcpOpt.END) break;
      if (code === DhcpOpt.PAD) { i++; continue; }
      const len = b[i + 1] ?? 0;
      if (i + 2 + len > b.length) return undefined;
      opts.set(code, b.subarray(i + 2, i + 2 + len));
      i += 2 + len;
    }
    const type = opts.get(DhcpOpt.MSG_TYPE)?.[0];
    if (type === undefined) return undefined;
    return { type, yiaddr: v.getUint32(H.yiaddr), opts };
  }
}

const u32 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 4 ? dv(b).getUint32(0) : undefined);
const be32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  dv(b).setUint32(0, n >>> 0);
  return b;
};

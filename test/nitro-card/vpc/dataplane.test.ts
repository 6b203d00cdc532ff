// The VPC data plane with crafted frames: ARP answered with the gateway MAC, DHCP, forwarding between ENIs on one
// card, stateful security groups (accept, reject, return traffic, rule removal on live flows), anti-spoofing and
// malformed-frame drops, allowance counters, flow logs.
import t from 'tap';
import { addEni, GATEWAY_MAC, ip, mac, makePlane, SG_OPEN_OUT, SG_WEB } from './fixtures.ts';
import { arpPacket, ethFrame, icmpFrame, ipv4Packet, udpFrame } from '../../../src/nitro-card/vpc/frames.ts';
import {
  ArpOp, ArpPkt, BROADCAST_MAC, DHCP_MAGIC, DhcpHdr, DhcpMsg, DhcpOpt, EthHdr, EtherType, IcmpType, IpProto, Ipv4Hdr, UdpHdr,
} from '../../../src/devices/net-wire.ts';
import { parseFrame } from '../../../src/nitro-card/vpc/packet.ts';
import { parseDhcpOptions } from '../../../src/nitro-card/vpc/dhcp.ts';
import type { SecurityGroupSpec } from '../../../src/nitro-card/vpc/security-groups.ts';

const A = { mac: mac('02:00:00:00:00:0a'), ip: ip('10.0.0.10') };
const B = { mac: mac('02:00:00:00:00:0b'), ip: ip('10.0.0.11') };

function setup(groups: SecurityGroupSpec[] = [{ groupId: SG_WEB, rules: [SG_OPEN_OUT] }]) {
  const { plane, clock } = makePlane();
  plane.setSecurityGroups(groups);
  const a = addEni(plane, 10);
  const b = addEni(plane, 11);
  return { plane, clock, a, b };
}

const ping = (seq = 1, from = A, to = B, type: number = IcmpType.ECHO_REQUEST) => icmpFrame(GATEWAY_MAC, from.mac, from.ip, to.ip, type, 7, seq);

t.test('ARP for any subnet address is answered by the card with the gateway MAC', async (t) => {
  const { plane, a } = setup();
  const req = ethFrame(BROADCAST_MAC, A.mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, A.mac, A.ip, new Uint8Array(6), ip('10.0.0.77')));
  plane.fromGuest(a.eni, req);
  t.equal(a.rx.length, 1);
  const r = a.rx[0]!;
  const v = new DataView(r.buffer);
  t.same([...r.subarray(0, 6)], [...A.mac], 'to the asker');
  t.equal(v.getUint16(EthHdr.offset.ethertype), EtherType.ARP);
  t.equal(v.getUint16(EthHdr.size + ArpPkt.offset.oper), ArpOp.REPLY);
  t.same([...r.subarray(EthHdr.size + ArpPkt.offset.sha, EthHdr.size + ArpPkt.offset.sha + 6)], [...GATEWAY_MAC], 'fake gateway MAC');
  t.equal(v.getUint32(EthHdr.size + ArpPkt.offset.spa), ip('10.0.0.77'));
  t.equal(v.getUint32(EthHdr.size + ArpPkt.offset.tpa), A.ip);
  // The gateway itself is answered too; the ENI's own address (a DHCP probe) and off-subnet addresses are not.
  plane.fromGuest(a.eni, ethFrame(BROADCAST_MAC, A.mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, A.mac, A.ip, new Uint8Array(6), ip('10.0.0.1'))));
  plane.fromGuest(a.eni, ethFrame(BROADCAST_MAC, A.mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, A.mac, 0, new Uint8Array(6), A.ip)));
  plane.fromGuest(a.eni, ethFrame(BROADCAST_MAC, A.mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, A.mac, A.ip, new Uint8Array(6), ip('192.168.1.1'))));
  t.equal(a.rx.length, 2);
  t.equal(a.eni.counters.drops['arp-not-answered'], 2);
});

function dhcpMessage(type: number, xid: number, chaddr: Uint8Array, opts: number[] = []): Uint8Array {
  const m = new Uint8Array(DhcpHdr.size + 3 + opts.length + 1);
  const v = new DataView(m.buffer);
  v.setUint8(DhcpHdr.offset.op, 1);
  v.setUint8(DhcpHdr.offset.htype, 1);
  v.setUint8(DhcpHdr.offset.hlen, 6);
  v.setUint32(DhcpHdr.offset.xid, xid);
  m.set(chaddr, DhcpHdr.offset.chaddr);
  v.setUint32(DhcpHdr.offset.magic, DHCP_MAGIC);
  m.set([DhcpOpt.MSG_TYPE, 1, type, ...opts, DhcpOpt.END], DhcpHdr.size);
  return m;
}

function dhcpReply(frame: Uint8Array) {
  const p = parseFrame(frame);
  if (p.kind !== 'ipv4') throw new Error('not IPv4');
  const body = frame.subarray(p.ip.l4Off + UdpHdr.size);
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return { ip: p.ip, yiaddr: v.getUint32(DhcpHdr.offset.yiaddr), xid: v.getUint32(DhcpHdr.offset.xid), opts: parseDhcpOptions(body, DhcpHdr.size, body.length)! };
}

t.test('DHCP: DISCOVER → OFFER and REQUEST → ACK with mask, router, lease and server id; a wrong address is NAKed', async (t) => {
  const { plane, a } = setup();
  const send = (m: Uint8Array) => plane.fromGuest(a.eni, udpFrame(BROADCAST_MAC, A.mac, 0, 0xffffffff, 68, 67, m));
  send(dhcpMessage(DhcpMsg.DISCOVER, 0x1234, A.mac));
  const offer = dhcpReply(a.rx[0]!);
  t.equal(offer.xid, 0x1234);
  t.equal(offer.yiaddr, A.ip);
  t.same([...offer.opts.get(DhcpOpt.MSG_TYPE)!], [DhcpMsg.OFFER]);
  t.same([...offer.opts.get(DhcpOpt.SUBNET_MASK)!], [255, 255, 255, 0]);
  t.same([...offer.opts.get(DhcpOpt.ROUTER)!], [10, 0, 0, 1]);
  t.same([...offer.opts.get(DhcpOpt.SERVER_ID)!], [10, 0, 0, 1]);
  t.same([...offer.opts.get(DhcpOpt.LEASE_TIME)!], [0, 0, 0x0e, 0x10]);
  t.equal(offer.ip.src, ip('10.0.0.1'));
  t.equal(offer.ip.dst, 0xffffffff);
  send(dhcpMessage(DhcpMsg.REQUEST, 0x1235, A.mac, [DhcpOpt.REQUESTED_IP, 4, 10, 0, 0, 10, DhcpOpt.SERVER_ID, 4, 10, 0, 0, 1]));
  t.same([...dhcpReply(a.rx[1]!).opts.get(DhcpOpt.MSG_TYPE)!], [DhcpMsg.ACK]);
  send(dhcpMessage(DhcpMsg.REQUEST, 0x1236, A.mac, [DhcpOpt.REQUESTED_IP, 4, 10, 0, 0, 99]));
  t.same([...dhcpReply(a.rx[2]!).opts.get(DhcpOpt.MSG_TYPE)!], [DhcpMsg.NAK]);
  send(dhcpMessage(DhcpMsg.DISCOVER, 0x1237, B.mac));
  t.equal(a.rx.length, 3, 'a DISCOVER for another MAC is not answered');
  t.equal(a.eni.counters.drops['spoofed-mac'], 1);
  send(new Uint8Array(20));
  t.equal(a.eni.counters.drops['bad-dhcp'], 1);
});

t.test('ICMP between two ENIs on one card: denied inbound by default, allowed by a rule, reply passes as return traffic', async (t) => {
  const { plane, a, b } = setup();
  plane.fromGuest(a.eni, ping(1));
  t.equal(b.rx.length, 0, 'default deny inbound');
  t.equal(b.eni.counters.drops['sg-ingress'], 1);
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, { ruleId: 'r-icmp', direction: 'ingress', protocol: 'icmp', fromPort: 8, toPort: -1, cidr: '10.0.0.10/32' }] }]);
  plane.fromGuest(a.eni, ping(2));
  t.equal(b.rx.length, 1, 'allowed by the ingress rule');
  const got = b.rx[0]!;
  t.same([...got.subarray(0, 6)], [...B.mac], 'dst MAC rewritten to the ENI');
  t.same([...got.subarray(6, 12)], [...GATEWAY_MAC], 'src MAC is the gateway');
  // B replies: no rule allows ICMP echo-reply into A, but the flow A started is tracked.
  plane.fromGuest(b.eni, ping(2, B, A, IcmpType.ECHO_REPLY));
  t.equal(a.rx.length, 1, 'return traffic passes');
  // B pinging A is a new flow: A has no inbound ICMP rule → rejected.
  plane.fromGuest(b.eni, icmpFrame(GATEWAY_MAC, B.mac, B.ip, A.ip, IcmpType.ECHO_REQUEST, 99, 1));
  t.equal(a.rx.length, 1);
  t.equal(a.eni.counters.drops['sg-ingress'], 1);
  const logs = b.eni.flowLog.records();
  t.ok(logs.some((r) => r.action === 'REJECT' && r.direction === 'ingress' && r.protocol === IpProto.ICMP && r.srcAddr === '10.0.0.10'));
  t.ok(logs.some((r) => r.action === 'ACCEPT' && r.direction === 'ingress' && r.packets === 1));
});

t.test('UDP flow passes and its return traffic passes; after the rule is removed the tracked flow keeps flowing, new flows do not', async (t) => {
  const rule = { ruleId: 'r-udp', direction: 'ingress' as const, protocol: 'udp' as const, fromPort: 5000, toPort: 5010, groupId: SG_WEB };
  const { plane, clock, a, b } = setup([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, rule] }]);
  plane.setMappings([10, 11].map((n) => ({ vni: 1, privateIp: `10.0.0.${n}`, macAddress: '02:00:00:00:00:00', instanceId: `i-${n}`, hostId: 'host-0', underlay: { address: '127.0.0.1', port: 6081 }, securityGroupIds: [SG_WEB] })));
  const dgram = (from: typeof A, to: typeof A, sp: number, dp: number) => udpFrame(GATEWAY_MAC, from.mac, from.ip, to.ip, sp, dp, new TextEncoder().encode('hello'));
  plane.fromGuest(a.eni, dgram(A, B, 40000, 5001));
  t.equal(b.rx.length, 1, 'group rule: A is a member of sg-web');
  plane.fromGuest(b.eni, dgram(B, A, 5001, 40000));
  t.equal(a.rx.length, 1, 'reply passes (tracked at A)');
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT] }]);
  clock.nowNs += 10_000_000_000n;
  plane.fromGuest(a.eni, dgram(A, B, 40000, 5001));
  t.equal(b.rx.length, 2, 'tracked flow survives the rule removal (EC2 semantics)');
  plane.fromGuest(a.eni, dgram(A, B, 40001, 5001));
  t.equal(b.rx.length, 2, 'a new flow is denied');
  clock.nowNs += 200_000_000_000n;
  plane.fromGuest(a.eni, dgram(A, B, 40000, 5001));
  t.equal(b.rx.length, 2, 'after the idle timeout the old flow is gone too');
});

t.test('anti-spoofing: a source MAC or IP that is not the ENI\'s is dropped and counted', async (t) => {
  const { plane, a, b } = setup([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, { ruleId: 'all-in', direction: 'ingress', protocol: 'all', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] }]);
  plane.fromGuest(a.eni, icmpFrame(GATEWAY_MAC, mac('02:66:66:66:66:66'), A.ip, B.ip, 8, 1, 1));
  plane.fromGuest(a.eni, icmpFrame(GATEWAY_MAC, A.mac, ip('10.0.0.99'), B.ip, 8, 1, 1));
  plane.fromGuest(a.eni, ethFrame(BROADCAST_MAC, A.mac, EtherType.ARP, arpPacket(ArpOp.REQUEST, A.mac, ip('10.0.0.99'), new Uint8Array(6), B.ip)));
  t.equal(b.rx.length, 0);
  t.equal(a.rx.length, 0);
  t.same(a.eni.counters.drops, { 'spoofed-mac': 1, 'spoofed-ip': 2 });
  plane.fromGuest(a.eni, ping(1));
  t.equal(b.rx.length, 1, 'the genuine frame passes');
});

t.test('malformed frames from a guest are dropped with a reason, never thrown', async (t) => {
  const { plane, a } = setup();
  const good = ping(1);
  const badSum = good.slice();
  badSum[EthHdr.size + Ipv4Hdr.offset.ttl] = 1; // header changed, checksum not
  const badVer = good.slice();
  badVer[EthHdr.size] = 0x65;
  const shortIhl = good.slice();
  shortIhl[EthHdr.size] = 0x44;
  const longLen = good.slice();
  new DataView(longLen.buffer).setUint16(EthHdr.size + Ipv4Hdr.offset.total_length, 2000);
  const truncatedUdp = ethFrame(GATEWAY_MAC, A.mac, EtherType.IPV4, ipv4Packet({ src: A.ip, dst: B.ip, proto: IpProto.UDP }, new Uint8Array(4)));
  const frag = ethFrame(GATEWAY_MAC, A.mac, EtherType.IPV4, ipv4Packet({ src: A.ip, dst: B.ip, proto: IpProto.UDP, dontFragment: false }, new Uint8Array(16)));
  const fv = new DataView(frag.buffer);
  fv.setUint16(EthHdr.size + Ipv4Hdr.offset.flags_frag, 0x2000);
  fv.setUint16(EthHdr.size + Ipv4Hdr.offset.checksum, 0);
  const { internetChecksum } = await import('../../../src/devices/net-wire.ts');
  fv.setUint16(EthHdr.size + Ipv4Hdr.offset.checksum, internetChecksum(frag, EthHdr.size, EthHdr.size + Ipv4Hdr.size));
  const ipv6 = ethFrame(GATEWAY_MAC, A.mac, EtherType.IPV6, new Uint8Array(40));
  for (const f of [new Uint8Array(0), new Uint8Array(10), good.subarray(0, 20), badSum, badVer, shortIhl, longLen, truncatedUdp, frag, ipv6, new Uint8Array(9100)]) {
    t.doesNotThrow(() => plane.fromGuest(a.eni, f));
  }
  t.same(a.eni.counters.drops, {
    runt: 3, 'bad-ip-checksum': 1, 'bad-ip-version': 1, 'bad-ip-header': 1, 'bad-ip-length': 1, 'bad-l4-header': 1,
    'ip-fragment': 1, 'unsupported-ethertype': 1, oversize: 1,
  });
  t.equal(a.eni.counters.tx_packets, 11);
});

t.test('tx allowance: past the pps budget frames are dropped and pps_allowance_exceeded counts; refill restores it', async (t) => {
  const { plane, clock } = makePlane();
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, { ruleId: 'in', direction: 'ingress', protocol: 'all', fromPort: -1, toPort: -1, cidr: '10.0.0.0/24' }] }]);
  const lim = { bandwidth: { size: 1_000_000, oneTimeBurst: 0, refillTimeMs: 100 }, ops: { size: 3, oneTimeBurst: 0, refillTimeMs: 100 } };
  const a = addEni(plane, 10, { limits: { tx: lim, rx: { ...lim, ops: { size: 100, oneTimeBurst: 0, refillTimeMs: 100 } } } });
  const b = addEni(plane, 11);
  for (let i = 0; i < 5; i++) plane.fromGuest(a.eni, ping(i));
  t.equal(b.rx.length, 3);
  t.equal(a.eni.counters.pps_allowance_exceeded, 2);
  clock.nowNs += 100_000_000n;
  plane.fromGuest(a.eni, ping(9));
  t.equal(b.rx.length, 4);
  const small = { bandwidth: { size: 100, oneTimeBurst: 0, refillTimeMs: 100 }, ops: { size: 100, oneTimeBurst: 0, refillTimeMs: 100 } };
  const c = addEni(plane, 12, { limits: { tx: small, rx: small } });
  plane.fromGuest(a.eni, ping(1, A, { mac: c.eni.mac, ip: c.eni.ip }));
  plane.fromGuest(a.eni, ping(2, A, { mac: c.eni.mac, ip: c.eni.ip }));
  t.equal(c.rx.length, 1, 'the first 74-byte frame fits the 100-byte bucket, the second does not');
  t.equal(c.eni.counters.bw_in_allowance_exceeded, 1);
});

t.test('no route: an address with no ENI and no mapping is dropped at the sender', async (t) => {
  const { plane, a } = setup();
  plane.fromGuest(a.eni, ping(1, A, { mac: B.mac, ip: ip('10.0.0.200') }));
  plane.fromGuest(a.eni, ping(1, A, { mac: B.mac, ip: ip('8.8.8.8') }));
  t.equal(a.eni.counters.drops['no-route'], 2);
});

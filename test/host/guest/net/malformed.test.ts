// Malformed frames reaching the guest are dropped and counted, never thrown: bad IPv4 header checksum, truncated
// packets, unknown ethertypes, runts, fragments, bad UDP/TCP/ICMP checksums, frames for another MAC.
import t from 'tap';
import { EtherType, IpProto, parseIpv4 } from '../../../../src/devices/net-wire.ts';
import { ipFrame } from '../virtio/helpers/real-virtio-net.ts';
import { A_IP, B_IP, twoGuests } from './helpers.ts';

const A_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0x0a);
const B_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0x0b);
const src = parseIpv4(B_IP)!;
const dst = parseIpv4(A_IP)!;

function udp(payload: string, badSum = false): Uint8Array {
  const d = new TextEncoder().encode(payload);
  const u = new Uint8Array(8 + d.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, 4000); v.setUint16(2, 4001); v.setUint16(4, u.length); v.setUint16(6, badSum ? 0x1234 : 0);
  u.set(d, 8);
  return u;
}

t.test('bad, truncated and foreign frames are dropped with a named counter, and good ones still pass', async (t) => {
  const { wire, a } = await twoGuests();
  const c = a.k.net.counters;
  const sock = a.k.net.udp.bind(4001);

  const badCsum = ipFrame(A_MAC, B_MAC, src, dst, IpProto.UDP, udp('x'));
  badCsum[14 + 10]! ^= 0xff;
  await wire.inject('a', badCsum);
  t.equal(c.ipInCsumErrors, 1, 'bad IPv4 header checksum');

  const good = ipFrame(A_MAC, B_MAC, src, dst, IpProto.UDP, udp('hello'));
  await wire.inject('a', good.subarray(0, 14 + 20 + 4));
  t.equal(c.ipInTruncated, 1, 'IPv4 total length beyond the frame');
  await wire.inject('a', good.subarray(0, 14 + 10));
  t.equal(c.ipInTruncated, 2, 'shorter than an IPv4 header');
  await wire.inject('a', good.subarray(0, 10));
  t.equal(c.ethInRunts, 1, 'shorter than an Ethernet header');

  const ipv6 = Uint8Array.from(good);
  ipv6[12] = EtherType.IPV6 >> 8; ipv6[13] = EtherType.IPV6 & 0xff;
  await wire.inject('a', ipv6);
  t.equal(c.ethInUnknownType, 1, 'wrong ethertype');

  const frag = ipFrame(A_MAC, B_MAC, src, dst, IpProto.UDP, udp('frag'));
  const fv = new DataView(frag.buffer);
  fv.setUint16(14 + 6, 0x2000); // MF
  fv.setUint16(14 + 10, 0);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += fv.getUint16(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  fv.setUint16(14 + 10, ~s & 0xffff);
  await wire.inject('a', frag);
  t.equal(c.ipReasmFails, 1, 'fragments are dropped and counted');

  const version6 = Uint8Array.from(good);
  version6[14] = 0x65;
  await wire.inject('a', version6);
  t.equal(c.ipInHdrErrors, 1, 'IP version 6 in an IPv4 ethertype');

  await wire.inject('a', ipFrame(A_MAC, B_MAC, src, dst, IpProto.UDP, udp('bad', true)));
  t.equal(c.udpInCsumErrors, 1, 'bad UDP checksum');

  const foreign = ipFrame(Uint8Array.of(2, 0, 0, 0, 0, 0x99), B_MAC, src, dst, IpProto.UDP, udp('x'));
  await wire.inject('a', foreign);
  t.equal(c.ethInNotForUs, 1, 'another unicast MAC');

  await wire.inject('a', ipFrame(A_MAC, B_MAC, src, parseIpv4('10.0.0.77')!, IpProto.UDP, udp('x')));
  t.equal(c.ipInAddrErrors, 1, 'another IP address');

  await wire.inject('a', ipFrame(A_MAC, B_MAC, src, dst, 99, new Uint8Array(8)));
  t.equal(c.ipInUnknownProtos, 1, 'unknown IP protocol');

  await wire.inject('a', ipFrame(A_MAC, B_MAC, src, dst, IpProto.ICMP, Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1)));
  t.equal(c.icmpInErrors, 1, 'bad ICMP checksum');

  await wire.inject('a', ipFrame(A_MAC, B_MAC, src, dst, IpProto.TCP, new Uint8Array(10)));
  t.equal(c.tcpInErrs, 1, 'TCP shorter than its header');

  t.equal(sock.queue.length, 0, 'nothing malformed reached the socket');
  await wire.inject('a', good);
  const d = await sock.recv(1000);
  t.equal(new TextDecoder().decode(d?.data), 'hello', 'a good datagram after all that is delivered');
  t.equal(a.k.net.counters.udpInDatagrams, 1);
  t.equal(a.nic.net.transport.needsReset, false, 'the device is healthy');
});

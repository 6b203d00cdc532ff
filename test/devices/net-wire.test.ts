// Network wire layouts against their spec tables (RFC 791/768/9293/826/2131/8926, pcap-savefile(5); specs.md §7),
// and the address helpers.
import t from 'tap';
import {
  ArpPkt, DhcpHdr, EthHdr, GeneveHdr, GeneveOpt, IcmpEcho, Ipv4Hdr, PcapGlobalHdr, PcapRecordHdr, TcpHdr, UdpHdr,
  cidrContains, formatCidr, formatIpv4, formatMac, internetChecksum, parseCidr, parseIpv4, pseudoHeaderSum,
} from '../../src/devices/net-wire.ts';

t.test('sizes and offsets match the spec tables', async (t) => {
  t.same([EthHdr.size, EthHdr.offset.ethertype], [14, 12]);
  t.same([ArpPkt.size, ArpPkt.offset.oper, ArpPkt.offset.sha, ArpPkt.offset.spa, ArpPkt.offset.tha, ArpPkt.offset.tpa], [28, 6, 8, 14, 18, 24]);
  t.same([Ipv4Hdr.size, Ipv4Hdr.offset.total_length, Ipv4Hdr.offset.ttl, Ipv4Hdr.offset.protocol, Ipv4Hdr.offset.checksum, Ipv4Hdr.offset.src, Ipv4Hdr.offset.dst], [20, 2, 8, 9, 10, 12, 16]);
  t.same([IcmpEcho.size, IcmpEcho.offset.id, IcmpEcho.offset.seq], [8, 4, 6]);
  t.same([UdpHdr.size, UdpHdr.offset.length, UdpHdr.offset.checksum], [8, 4, 6]);
  t.same([TcpHdr.size, TcpHdr.offset.seq, TcpHdr.offset.ack, TcpHdr.offset.data_offset, TcpHdr.offset.flags, TcpHdr.offset.window, TcpHdr.offset.checksum], [20, 4, 8, 12, 13, 14, 16]);
  t.same([DhcpHdr.size, DhcpHdr.offset.xid, DhcpHdr.offset.ciaddr, DhcpHdr.offset.yiaddr, DhcpHdr.offset.chaddr, DhcpHdr.offset.sname, DhcpHdr.offset.file, DhcpHdr.offset.magic], [240, 4, 12, 16, 28, 44, 108, 236]);
  t.same([GeneveHdr.size, GeneveHdr.offset.protocol_type, GeneveHdr.offset.vni, GeneveHdr.offset.rsvd], [8, 2, 4, 7], 'specs.md §7.2');
  t.same([GeneveOpt.size, GeneveOpt.offset.type, GeneveOpt.offset.length], [4, 2, 3]);
  t.same([PcapGlobalHdr.size, PcapGlobalHdr.offset.snaplen, PcapGlobalHdr.offset.network], [24, 16, 20], 'specs.md §7.3');
  t.same([PcapRecordHdr.size, PcapRecordHdr.offset.ts_usec, PcapRecordHdr.offset.incl_len, PcapRecordHdr.offset.orig_len], [16, 4, 8, 12]);
});

t.test('IPv4 addresses, CIDR blocks and MACs parse and print', async (t) => {
  t.equal(parseIpv4('10.0.0.1'), 0x0a000001);
  t.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', 'a.b.c.d', '01234.1.1.1']) t.equal(parseIpv4(bad), undefined, bad);
  t.equal(formatIpv4(0xa9fea9fe), '169.254.169.254');
  const c = parseCidr('10.0.0.0/24')!;
  t.same([c.network, c.prefix, c.mask], [0x0a000000, 24, 0xffffff00]);
  t.ok(cidrContains(c, parseIpv4('10.0.0.200')!));
  t.notOk(cidrContains(c, parseIpv4('10.0.1.1')!));
  t.ok(cidrContains(parseCidr('0.0.0.0/0')!, 0xdeadbeef));
  t.equal(formatCidr(parseCidr('192.168.1.7/32')!), '192.168.1.7/32');
  for (const bad of ['10.0.0.1/24', '10.0.0.0/33', '10.0.0.0', '10.0.0.0/24/1']) t.equal(parseCidr(bad), undefined, bad);
  t.equal(formatMac(Uint8Array.of(2, 0x6e, 0x69, 0x74, 0x72, 0x6f)), '02:6e:69:74:72:6f');
});

t.test('Internet checksum: the RFC 1071 example, and a filled-in header sums to zero', async (t) => {
  const words = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  t.equal(internetChecksum(words, 0, words.length), ~0xddf2 & 0xffff);
  const hdr = Uint8Array.of(0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 4, 10, 0, 0, 5);
  const c = internetChecksum(hdr, 0, 20);
  hdr[10] = c >> 8;
  hdr[11] = c & 0xff;
  t.equal(internetChecksum(hdr, 0, 20), 0);
  t.equal(pseudoHeaderSum(0x0a000004, 0x0a000005, 17, 8), (0x0a00 + 0x0004 + 0x0a00 + 0x0005 + 17 + 8));
});

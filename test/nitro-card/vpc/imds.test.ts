// IMDS on the card: a TCP handshake, one HTTP request, the response and FIN, through the data plane's link-local
// hook; IMDSv2 tokens; anything that is not TCP to port 80 is dropped.
import t from 'tap';
import { addEni, GATEWAY_MAC, makePlane, SG_OPEN_OUT, SG_WEB } from './fixtures.ts';
import { ImdsService, IMDS_ADDR } from '../../../src/nitro-card/vpc/imds.ts';
import { ethFrame, ipv4Packet, udpFrame } from '../../../src/nitro-card/vpc/frames.ts';
import { EtherType, IpProto, TcpFlag, TcpHdr, internetChecksum, pseudoHeaderSum } from '../../../src/devices/net-wire.ts';
import { parseFrame } from '../../../src/nitro-card/vpc/packet.ts';
import type { Eni } from '../../../src/nitro-card/vpc/eni.ts';

function tcpFrame(eni: Eni, sport: number, seq: number, ack: number, flags: number, data = new Uint8Array(0)): Uint8Array {
  const seg = new Uint8Array(TcpHdr.size + data.length);
  const v = new DataView(seg.buffer);
  v.setUint16(TcpHdr.offset.src_port, sport);
  v.setUint16(TcpHdr.offset.dst_port, 80);
  v.setUint32(TcpHdr.offset.seq, seq);
  v.setUint32(TcpHdr.offset.ack, ack);
  v.setUint8(TcpHdr.offset.data_offset, 0x50);
  v.setUint8(TcpHdr.offset.flags, flags);
  v.setUint16(TcpHdr.offset.window, 65535);
  seg.set(data, TcpHdr.size);
  v.setUint16(TcpHdr.offset.checksum, internetChecksum(seg, 0, seg.length, pseudoHeaderSum(eni.ip, IMDS_ADDR, IpProto.TCP, seg.length)));
  return ethFrame(GATEWAY_MAC, eni.mac, EtherType.IPV4, ipv4Packet({ src: eni.ip, dst: IMDS_ADDR, proto: IpProto.TCP }, seg));
}

function seg(f: Uint8Array) {
  const p = parseFrame(f);
  if (p.kind !== 'ipv4') throw new Error('not IPv4');
  const v = new DataView(f.buffer);
  const csumOk = internetChecksum(f, p.ip.l4Off, 14 + p.ip.totalLength, pseudoHeaderSum(p.ip.src, p.ip.dst, IpProto.TCP, p.ip.totalLength - 20)) === 0;
  return { ip: p.ip, seq: v.getUint32(p.ip.l4Off + TcpHdr.offset.seq), ack: v.getUint32(p.ip.l4Off + TcpHdr.offset.ack), flags: p.ip.tcpFlags, data: new TextDecoder().decode(f.subarray(p.ip.l4Off + 20)), csumOk };
}

function setup() {
  const { plane } = makePlane();
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT] }]);
  plane.addLinkLocal(new ImdsService(GATEWAY_MAC));
  return { plane, ...addEni(plane, 10) };
}

async function get(plane: ReturnType<typeof setup>['plane'], eni: Eni, rx: Uint8Array[], request: string, sport = 40000): Promise<string> {
  rx.length = 0;
  plane.fromGuest(eni, tcpFrame(eni, sport, 1000, 0, TcpFlag.SYN));
  const synAck = seg(rx[0]!);
  const req = new TextEncoder().encode(request);
  plane.fromGuest(eni, tcpFrame(eni, sport, 1001, synAck.seq + 1, TcpFlag.ACK | TcpFlag.PSH, req));
  const segs = rx.slice(1).map(seg);
  const fin = segs.find((s) => s.flags & TcpFlag.FIN)!;
  plane.fromGuest(eni, tcpFrame(eni, sport, 1001 + req.length, fin.seq + 1, TcpFlag.ACK | TcpFlag.FIN));
  return segs.map((s) => s.data).join('');
}

t.test('handshake, GET instance-id, FIN: segments have valid checksums and sequence numbers', async (t) => {
  const { plane, eni, rx } = setup();
  plane.fromGuest(eni, tcpFrame(eni, 40000, 1000, 0, TcpFlag.SYN));
  const sa = seg(rx[0]!);
  t.equal(sa.flags, TcpFlag.SYN | TcpFlag.ACK);
  t.equal(sa.ack, 1001);
  t.ok(sa.csumOk, 'TCP checksum');
  t.equal(sa.ip.src, IMDS_ADDR);
  t.same([...rx[0]!.subarray(6, 12)], [...GATEWAY_MAC]);
  const req = new TextEncoder().encode('GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n');
  plane.fromGuest(eni, tcpFrame(eni, 40000, 1001, sa.seq + 1, TcpFlag.ACK | TcpFlag.PSH, req));
  const data = seg(rx[1]!);
  t.equal(data.seq, sa.seq + 1);
  t.equal(data.ack, 1001 + req.length, 'the request is acknowledged');
  t.match(data.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\ni-0000000000000000a$/);
  t.ok(data.csumOk);
  const fin = seg(rx[2]!);
  t.ok(fin.flags & TcpFlag.FIN);
  t.equal(fin.seq, data.seq + data.data.length);
});

t.test('meta-data paths, IMDSv2 tokens, 404 and 401', async (t) => {
  const { plane, eni, rx } = setup();
  t.match(await get(plane, eni, rx, 'GET /latest/meta-data/local-ipv4 HTTP/1.1\r\n\r\n'), /\r\n\r\n10\.0\.0\.10$/);
  t.match(await get(plane, eni, rx, 'GET /latest/meta-data/mac HTTP/1.1\r\n\r\n'), /\r\n\r\n02:00:00:00:00:0a$/);
  t.match(await get(plane, eni, rx, 'GET /latest/meta-data/ HTTP/1.1\r\n\r\n'), /instance-id\nlocal-ipv4\nmac$/);
  t.match(await get(plane, eni, rx, 'GET /latest/meta-data/nope HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 404/);
  const tok = (await get(plane, eni, rx, 'PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n')).split('\r\n\r\n')[1]!;
  t.match(tok, /^[A-Za-z0-9_-]{40,}$/);
  t.match(await get(plane, eni, rx, `GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: ${tok}\r\n\r\n`), /^HTTP\/1\.1 200/);
  t.match(await get(plane, eni, rx, 'GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: bogus\r\n\r\n'), /^HTTP\/1\.1 401/);
  t.match(await get(plane, eni, rx, 'PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 0\r\n\r\n'), /^HTTP\/1\.1 400/);
});

t.test('UDP to the IMDS address and segments for unknown connections are refused, not crashed on', async (t) => {
  const { plane, eni, rx } = setup();
  plane.fromGuest(eni, udpFrame(GATEWAY_MAC, eni.mac, eni.ip, IMDS_ADDR, 5000, 80, new Uint8Array(4)));
  t.equal(eni.counters.drops['imds-not-tcp-80'], 1);
  plane.fromGuest(eni, tcpFrame(eni, 41000, 5, 9, TcpFlag.ACK, new Uint8Array(3)));
  t.ok(seg(rx[0]!).flags & TcpFlag.RST, 'RST for a segment of no connection');
});

// IMDS on the card: a TCP handshake, one HTTP request, the response and FIN, through the data plane's link-local
// hook; IMDSv2 tokens (TTL bounds, expiry on an injected clock, bound to the instance), httpTokens required, the hop
// limit as the reply's IP TTL, X-Forwarded-For, oversize and malformed requests, the meta-data tree, user-data and
// the signed identity document; anything that is not TCP to port 80 is dropped.
import t from 'tap';
import { generateKeyPairSync, verify } from 'node:crypto';
import { addEni, GATEWAY_MAC, makePlane, SG_OPEN_OUT, SG_WEB } from './fixtures.ts';
import { ImdsService, IMDS_ADDR, MAX_CONNS_PER_ENI } from '../../../src/nitro-card/vpc/imds.ts';
import { ethFrame, ipv4Packet, udpFrame } from '../../../src/nitro-card/vpc/frames.ts';
import { EtherType, IpProto, TcpFlag, TcpHdr, internetChecksum, pseudoHeaderSum } from '../../../src/devices/net-wire.ts';
import { parseFrame } from '../../../src/nitro-card/vpc/packet.ts';
import type { Eni } from '../../../src/nitro-card/vpc/eni.ts';
import type { ImdsInstance } from '../../../src/nitro-card/vpc/imds-metadata.ts';
import { DEFAULT_METADATA_OPTIONS, type MetadataOptions } from '../../../src/nitro-card/vpc/imds-options.ts';
import { CardMetrics } from '../../../src/nitro-card/metrics.ts';

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

function instance(instanceId: string, over: Partial<ImdsInstance> = {}, options: Partial<MetadataOptions> = {}): ImdsInstance {
  return {
    instanceId, instanceType: 'm5.large', imageId: 'ami-0000000000000001a', userData: '', pendingTime: '2026-11-26T10:00:00.123Z',
    availabilityZone: 'us-east-1a', region: 'us-east-1', accountId: '000000000000', architecture: 'x86_64',
    options: { ...DEFAULT_METADATA_OPTIONS, ...options }, ...over,
  };
}

function setup(opts: { instances?: ImdsInstance[]; signed?: boolean } = {}) {
  const { plane } = makePlane();
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT] }]);
  const clock = { ms: 1_800_000_000_000 };
  const byId = new Map((opts.instances ?? [instance('i-0000000000000000a')]).map((i) => [i.instanceId, i]));
  const keys = generateKeyPairSync('ed25519');
  const metrics = new CardMetrics();
  const logged: object[] = [];
  const push = (o: object) => { logged.push(o); };
  const imds = new ImdsService({
    gatewayMac: GATEWAY_MAC, lookup: (id) => byId.get(id), nowMs: () => clock.ms, metrics: metrics.scoped('imds'),
    log: { debug: push, info: push, warn: push, error: push }, ...(opts.signed === false ? {} : { signingKey: keys.privateKey }),
  });
  plane.addLinkLocal(imds);
  return { plane, imds, clock, keys, metrics, logged, byId, ...addEni(plane, 10) };
}

type Plane = ReturnType<typeof setup>['plane'];

/** One HTTP exchange on a fresh connection; the reply text and the segments that carried it. */
function exchange(plane: Plane, eni: Eni, rx: Uint8Array[], request: string, sport = 40000) {
  rx.length = 0;
  plane.fromGuest(eni, tcpFrame(eni, sport, 1000, 0, TcpFlag.SYN));
  const synAck = seg(rx[0]!);
  if (synAck.flags & TcpFlag.RST) return { text: '', segs: [synAck], refused: true };
  const req = Buffer.from(request, 'latin1');
  for (let at = 0; at < req.length; at += 1400) { // MSS-sized segments, as a guest's TCP sends them
    plane.fromGuest(eni, tcpFrame(eni, sport, 1001 + at, synAck.seq + 1, TcpFlag.ACK | TcpFlag.PSH, req.subarray(at, at + 1400)));
  }
  const segs = rx.slice(1).map(seg).filter((s) => s.data.length > 0 || s.flags & TcpFlag.FIN);
  const fin = segs.find((s) => s.flags & TcpFlag.FIN);
  if (fin) plane.fromGuest(eni, tcpFrame(eni, sport, 1001 + req.length, fin.seq + 1, TcpFlag.ACK | TcpFlag.FIN));
  return { text: segs.map((s) => s.data).join(''), segs, refused: false, fin: fin !== undefined };
}

async function get(plane: Plane, eni: Eni, rx: Uint8Array[], request: string, sport = 40000): Promise<string> {
  return exchange(plane, eni, rx, request, sport).text;
}

const bodyOf = (reply: string): string => reply.split('\r\n\r\n').slice(1).join('\r\n\r\n');
const PUT_TOKEN = (ttl: string | number) => `PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: ${ttl}\r\n\r\n`;
const GET = (path: string, token?: string) => `GET ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\n${token === undefined ? '' : `X-aws-ec2-metadata-token: ${token}\r\n`}\r\n`;

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
  t.equal(data.ip.ttl, 64, 'ordinary replies have the card\'s default TTL');
  const fin = seg(rx[2]!);
  t.ok(fin.flags & TcpFlag.FIN);
  t.equal(fin.seq, data.seq + data.data.length);
});

t.test('meta-data tree: listing, common leaves, sub-trees, 404', async (t) => {
  const { plane, eni, rx } = setup();
  const listing = bodyOf(await get(plane, eni, rx, GET('/latest/meta-data/')));
  for (const k of ['ami-id', 'hostname', 'instance-id', 'instance-type', 'local-hostname', 'local-ipv4', 'mac', 'network/', 'placement/', 'security-groups']) {
    t.ok(listing.split('\n').includes(k), `listing has ${k}`);
  }
  const leaf = async (p: string) => bodyOf(await get(plane, eni, rx, GET(`/latest/meta-data/${p}`)));
  t.equal(await leaf('local-ipv4'), '10.0.0.10');
  t.equal(await leaf('mac'), '02:00:00:00:00:0a');
  t.equal(await leaf('instance-type'), 'm5.large');
  t.equal(await leaf('ami-id'), 'ami-0000000000000001a');
  t.equal(await leaf('hostname'), 'ip-10-0-0-10.ec2.internal');
  t.equal(await leaf('placement/availability-zone'), 'us-east-1a');
  t.equal(await leaf('placement/'), 'availability-zone\nregion');
  t.equal(await leaf('security-groups'), SG_WEB);
  t.equal(await leaf('network/interfaces/macs/'), '02:00:00:00:00:0a/');
  t.equal(await leaf('network/interfaces/macs/02:00:00:00:00:0a/interface-id'), eni.config.eniId);
  t.equal(await leaf('network/interfaces/macs/02:00:00:00:00:0a/subnet-ipv4-cidr-block'), '10.0.0.0/24');
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/nope')), /^HTTP\/1\.1 404/);
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/mac/')), /^HTTP\/1\.1 404/, 'a leaf with a trailing slash is not found');
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/toString')), /^HTTP\/1\.1 404/, 'no prototype keys');
});

t.test('token PUT: TTL header 1..21600, missing or out of range is 400; the token works for GET', async (t) => {
  const { plane, eni, rx, imds } = setup();
  for (const bad of ['0', '21601', '-1', 'abc', '1.5']) t.match(await get(plane, eni, rx, PUT_TOKEN(bad)), /^HTTP\/1\.1 400/, `TTL ${bad}`);
  t.match(await get(plane, eni, rx, 'PUT /latest/api/token HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400/, 'missing TTL header');
  t.equal(imds.counters['rejected.token-ttl-invalid'], 6);
  for (const ok of [1, 21600]) {
    const reply = await get(plane, eni, rx, PUT_TOKEN(ok));
    t.match(reply, new RegExp(`^HTTP/1\\.1 200 OK\r\n[\\s\\S]*X-Aws-Ec2-Metadata-Token-Ttl-Seconds: ${ok}\r\n`));
    const tok = bodyOf(reply);
    t.match(tok, /^[A-Za-z0-9_-]{40,}$/);
    t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id', tok)), /^HTTP\/1\.1 200/);
  }
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id', 'bogus')), /^HTTP\/1\.1 401/);
  t.match(await get(plane, eni, rx, 'GET /latest/api/token HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 405/, 'only PUT issues tokens');
});

t.test('a token expires after its TTL (injected clock)', async (t) => {
  const { plane, eni, rx, clock, imds } = setup();
  const tok = bodyOf(await get(plane, eni, rx, PUT_TOKEN(60)));
  clock.ms += 59_999;
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id', tok)), /^HTTP\/1\.1 200/, 'still valid just before');
  clock.ms += 1;
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id', tok)), /^HTTP\/1\.1 401/, 'expired at the TTL');
  t.equal(imds.counters['rejected.token-expired'], 1);
});

t.test('a token is bound to its instance: another instance\'s token is 401', async (t) => {
  const { plane, eni, rx, imds } = setup({ instances: [instance('i-0000000000000000a'), instance('i-0000000000000000b')] });
  const other = addEni(plane, 11);
  const tok = bodyOf(await get(plane, eni, rx, PUT_TOKEN(300)));
  t.match(await get(plane, other.eni, other.rx, GET('/latest/meta-data/instance-id', tok)), /^HTTP\/1\.1 401/);
  t.equal(imds.counters['rejected.token-invalid'], 1);
  const own = bodyOf(await get(plane, other.eni, other.rx, PUT_TOKEN(300)));
  t.equal(bodyOf(await get(plane, other.eni, other.rx, GET('/latest/meta-data/instance-id', own))), 'i-0000000000000000b');
});

t.test('httpTokens required: a GET without a token is 401, with one 200; optional allows IMDSv1', async (t) => {
  const { plane, eni, rx, imds, byId, logged } = setup({ instances: [instance('i-0000000000000000a', {}, { httpTokens: 'required' })] });
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id')), /^HTTP\/1\.1 401 Unauthorized/);
  t.equal(imds.counters['rejected.token-required'], 1);
  t.match(logged, [{ event: 'imds-rejected', reason: 'token-required', instanceId: 'i-0000000000000000a' }]);
  const tok = bodyOf(await get(plane, eni, rx, PUT_TOKEN(60)));
  t.equal(bodyOf(await get(plane, eni, rx, GET('/latest/meta-data/instance-id', tok))), 'i-0000000000000000a');
  byId.get('i-0000000000000000a')!.options.httpTokens = 'optional';
  t.match(await get(plane, eni, rx, GET('/latest/meta-data/instance-id')), /^HTTP\/1\.1 200/, 'a modify takes effect on the next request');
});

t.test('the token PUT reply carries the hop limit as its IP TTL', async (t) => {
  const { plane, eni, rx } = setup({ instances: [instance('i-0000000000000000a', {}, { httpPutResponseHopLimit: 3 })] });
  const put = exchange(plane, eni, rx, PUT_TOKEN(60));
  t.match(put.text, /^HTTP\/1\.1 200/);
  t.ok(put.segs.length >= 2);
  t.same(put.segs.map((s) => s.ip.ttl), put.segs.map(() => 3), 'data and FIN at TTL = hop limit');
  t.ok(put.segs.every((s) => s.csumOk));
  const get1 = exchange(plane, eni, rx, GET('/latest/meta-data/instance-id'));
  t.same(get1.segs.map((s) => s.ip.ttl), get1.segs.map(() => 64), 'other replies are not limited');
  const dflt = setup();
  const put1 = exchange(dflt.plane, dflt.eni, dflt.rx, PUT_TOKEN(60));
  t.same(put1.segs.map((s) => s.ip.ttl), put1.segs.map(() => 1), 'default hop limit 1');
});

t.test('a token PUT with X-Forwarded-For is 403 and issues no token', async (t) => {
  const { plane, eni, rx, imds, metrics } = setup();
  const reply = await get(plane, eni, rx, 'PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nX-Forwarded-For: 10.0.0.99\r\n\r\n');
  t.match(reply, /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.equal(bodyOf(reply), '');
  t.equal(imds.counters['rejected.forwarded-for'], 1);
  t.equal(metrics.counters.get('imds.rejected.forwarded-for'), 1, 'counted in the card metrics');
});

t.test('an oversize request head is 400 and the connection is closed; malformed HTTP is 400', async (t) => {
  const { plane, eni, rx, imds, logged } = setup();
  const big = exchange(plane, eni, rx, `GET /latest/meta-data/ HTTP/1.1\r\nX-Big: ${'a'.repeat(9000)}`);
  t.match(big.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.ok(big.fin, 'FIN after the 400');
  t.equal(imds.counters['rejected.oversize-header'], 1);
  t.match(logged, [{ event: 'imds-rejected', reason: 'oversize-header' }]);
  const bigDone = exchange(plane, eni, rx, `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`);
  t.match(bigDone.text, /^HTTP\/1\.1 400/, 'a complete head over the bound too');
  for (const bad of ['GARBAGE\r\n\r\n', 'GET /x HTTP/2.0\r\n\r\n', 'GET nopath HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\r\nno colon here\r\n\r\n',
    'GET / HTTP/1.1\r\n folded: x\r\n\r\n', 'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n']) {
    t.match(await get(plane, eni, rx, bad), /^HTTP\/1\.1 400/, JSON.stringify(bad));
  }
  t.equal(imds.counters['rejected.malformed-request'], 7);
  t.match(await get(plane, eni, rx, 'POST /latest/meta-data/ HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 405/);
});

t.test('user-data: 404 when none, the launch user data otherwise', async (t) => {
  const none = setup();
  t.match(await get(none.plane, none.eni, none.rx, GET('/latest/user-data')), /^HTTP\/1\.1 404/);
  t.notOk(bodyOf(await get(none.plane, none.eni, none.rx, GET('/latest/'))).includes('user-data'));
  const some = setup({ instances: [instance('i-0000000000000000a', { userData: 'echo hello\nuname -a\n' })] });
  const reply = await get(some.plane, some.eni, some.rx, GET('/latest/user-data'));
  t.match(reply, /^HTTP\/1\.1 200/);
  t.equal(bodyOf(reply), 'echo hello\nuname -a\n');
});

t.test('instance identity document and its Ed25519 signature verify with the card public key', async (t) => {
  const { plane, eni, rx, keys } = setup();
  const docReply = await get(plane, eni, rx, GET('/latest/dynamic/instance-identity/document'));
  t.match(docReply, /Content-Type: application\/json/);
  const doc = bodyOf(docReply);
  t.match(JSON.parse(doc), {
    accountId: '000000000000', architecture: 'x86_64', availabilityZone: 'us-east-1a', imageId: 'ami-0000000000000001a',
    instanceId: 'i-0000000000000000a', instanceType: 'm5.large', pendingTime: '2026-11-26T10:00:00Z', privateIp: '10.0.0.10',
    region: 'us-east-1', version: '2017-09-30',
  });
  const sig = bodyOf(await get(plane, eni, rx, GET('/latest/dynamic/instance-identity/signature')));
  t.match(sig, /^[A-Za-z0-9+/]+=*$/);
  t.ok(verify(null, Buffer.from(doc), keys.publicKey, Buffer.from(sig, 'base64')), 'signature verifies');
  t.notOk(verify(null, Buffer.from(doc.replace('m5.large', 'm5.24xlarge')), keys.publicKey, Buffer.from(sig, 'base64')), 'a changed document does not');
  t.equal(bodyOf(await get(plane, eni, rx, GET('/latest/dynamic/instance-identity/'))), 'document\nsignature');
  const unsigned = setup({ signed: false });
  t.match(await get(unsigned.plane, unsigned.eni, unsigned.rx, GET('/latest/dynamic/instance-identity/signature')), /^HTTP\/1\.1 404/);
});

t.test('httpEndpoint disabled: the SYN is answered with RST, counted', async (t) => {
  const { plane, eni, rx, imds } = setup({ instances: [instance('i-0000000000000000a', {}, { httpEndpoint: 'disabled' })] });
  const r = exchange(plane, eni, rx, GET('/latest/meta-data/'));
  t.ok(r.refused);
  t.ok(r.segs[0]!.flags & TcpFlag.RST);
  t.equal(r.segs[0]!.ack, 1001);
  t.equal(imds.counters['rejected.endpoint-disabled'], 1);
});

t.test('at most 64 open connections per ENI: the next SYN is reset until idle ones age out', async (t) => {
  const { plane, eni, rx, imds, clock } = setup({ instances: [instance('i-0000000000000000a'), instance('i-0000000000000000b')] });
  rx.length = 0;
  for (let i = 0; i < MAX_CONNS_PER_ENI; i++) plane.fromGuest(eni, tcpFrame(eni, 30000 + i, 1000, 0, TcpFlag.SYN));
  t.ok(rx.map(seg).every((s) => s.flags === (TcpFlag.SYN | TcpFlag.ACK)), '64 handshakes answered');
  const r = exchange(plane, eni, rx, GET('/latest/meta-data/instance-id'));
  t.ok(r.refused, 'the 65th is reset');
  t.equal(imds.counters['rejected.too-many-connections'], 1);
  const other = addEni(plane, 11);
  t.notOk(exchange(plane, other.eni, other.rx, GET('/latest/meta-data/instance-id')).refused, 'other ENIs are not affected');
  clock.ms += 30_000;
  t.match(exchange(plane, eni, rx, GET('/latest/meta-data/instance-id')).text, /^HTTP\/1\.1 200/, 'idle connections make room');
});

t.test('UDP to the IMDS address and segments for unknown connections are refused, not crashed on', async (t) => {
  const { plane, eni, rx } = setup();
  plane.fromGuest(eni, udpFrame(GATEWAY_MAC, eni.mac, eni.ip, IMDS_ADDR, 5000, 80, new Uint8Array(4)));
  t.equal(eni.counters.drops['imds-not-tcp-80'], 1);
  plane.fromGuest(eni, tcpFrame(eni, 41000, 5, 9, TcpFlag.ACK, new Uint8Array(3)));
  t.ok(seg(rx[0]!).flags & TcpFlag.RST, 'RST for a segment of no connection');
});

// TCP between two guests over the wire stand-in: a 1 MB transfer that survives one dropped segment (retransmission
// on timeout), connection refused by RST, and curl fetching from a tiny HTTP server running in the other guest.
import t from 'tap';
import { EthHdr, EtherType, IpProto, Ipv4Hdr, TcpHdr, parseIpv4 } from '../../../../src/devices/net-wire.ts';
import type { TcpConnection } from '../../../../src/host/guest/net/tcp.ts';
import { A_IP, B_IP, randomBytes, twoGuests } from './helpers.ts';

const ip = (s: string): number => parseIpv4(s)!;

/** Bytes of TCP payload in an Ethernet frame (0 for anything else). */
function tcpPayloadLen(f: Uint8Array): number {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (v.getUint16(EthHdr.offset.ethertype) !== EtherType.IPV4) return 0;
  const o = EthHdr.size;
  if (v.getUint8(o + Ipv4Hdr.offset.protocol) !== IpProto.TCP) return 0;
  const total = v.getUint16(o + Ipv4Hdr.offset.total_length);
  const thl = (v.getUint8(o + 20 + TcpHdr.offset.data_offset) >> 4) * 4;
  return total - 20 - thl;
}

async function readAll(c: TcpConnection): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunk = await c.read(60_000);
    if (!chunk) break;
    parts.push(chunk);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

t.test('1 MB crosses intact although one data segment is dropped once, and is retransmitted', async (t) => {
  const { wire, a, b } = await twoGuests();
  const data = randomBytes(1 << 20, 7);
  const listener = b.k.net.tcp.listen(9000);
  const server = (async () => {
    const c = await listener.accept(60_000);
    if (!c) throw new Error('no connection accepted');
    const got = await readAll(c);
    await c.close();
    return got;
  })();
  let dataSegs = 0;
  wire.dropOnce((f, from) => from === 'a' && tcpPayloadLen(f) > 0 && ++dataSegs === 100);
  const conn = await a.k.net.tcp.connect(ip(B_IP), 9000);
  t.equal(conn.state, 'ESTABLISHED');
  await conn.write(data);
  await conn.close();
  const got = await server;
  t.equal(wire.dropped, 1, 'the stand-in dropped one segment');
  t.equal(got.length, data.length, 'every byte arrived');
  t.ok(Buffer.from(got).equals(Buffer.from(data)), 'in order and intact');
  t.ok(conn.stats.retransmits >= 1, 'the sender retransmitted');
  t.ok(a.k.net.counters.tcpRetransSegs >= 1);
  t.ok(b.k.net.counters.tcpOutOfOrderDrops >= 1, 'the receiver dropped the segments behind the hole');
  t.equal(b.k.net.counters.tcpInCsumErrors, 0);
  listener.close();
});

t.test('connecting to a port nobody listens on is refused with RST', async (t) => {
  const { a, b } = await twoGuests();
  await t.rejects(a.k.net.tcp.connect(ip(B_IP), 81), { code: 'ECONNREFUSED' });
  t.equal(b.k.net.counters.tcpOutRsts, 1);
  const r = await a.k.exec(`curl http://${B_IP}:81/`);
  t.equal(r.code, 7);
  t.match(r.output, /curl: \(7\) Failed to connect to 10\.0\.0\.2 port 81: Connection refused/u);
});

t.test('curl fetches a page from a tiny HTTP server in the other guest', async (t) => {
  const { a, b } = await twoGuests();
  const listener = b.k.net.tcp.listen(80);
  const requests: string[] = [];
  void (async () => {
    for (;;) {
      const c = await listener.accept();
      if (!c) return;
      let req = '';
      while (!req.includes('\r\n\r\n')) {
        const chunk = await c.read(5000);
        if (!chunk) break;
        req += new TextDecoder().decode(chunk);
      }
      requests.push(req);
      const body = req.startsWith('GET /latest/meta-data/instance-id ') ? 'i-0123456789abcdef0' : 'not found\n';
      const status = body.startsWith('i-') ? '200 OK' : '404 Not Found';
      await c.write(new TextEncoder().encode(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nServer: tiny\r\n\r\n${body}`));
      await c.close();
    }
  })();
  const r = await a.k.exec(`curl http://${B_IP}/latest/meta-data/instance-id`);
  t.equal(r.code, 0);
  t.equal(r.output, 'i-0123456789abcdef0');
  t.match(requests[0], /^GET \/latest\/meta-data\/instance-id HTTP\/1\.1\r\nHost: 10\.0\.0\.2\r\n/u);
  const i = await a.k.exec(`curl -i -X PUT -H 'X-Test: 1' http://${B_IP}/nope`);
  t.equal(i.code, 0);
  t.match(i.output, /^HTTP\/1\.1 404 Not Found\r\nContent-Type: text\/plain\r\nContent-Length: 10\r\nServer: tiny\r\n\r\nnot found\n$/u);
  t.match(requests[1], /^PUT \/nope HTTP\/1\.1\r\n[^]*X-Test: 1\r\n/u);
  t.equal((await a.k.exec(`curl -f -s http://${B_IP}/nope`)).code, 22);
  listener.close();
  void A_IP;
});

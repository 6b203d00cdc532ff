// A minimal instance metadata service on the card at 169.254.169.254:80 (the VPC's link-local IMDS): just enough TCP
// (RFC 9293: SYN → SYN-ACK, in-order data, ACK, FIN both ways, RST for anything else) to serve one HTTP/1.1 request per
// connection. Paths: /latest/meta-data/ (listing), instance-id, local-ipv4, mac, and IMDSv2's
// `PUT /latest/api/token` (X-aws-ec2-metadata-token-ttl-seconds 1–21600). IMDS is in "optional" mode: a GET without a
// token is served (IMDSv1), a GET with an unknown or expired token gets 401. Link-local traffic has its own allowance
// (1024 pps per ENI, as AWS) counted in linklocal_allowance_exceeded.
import { randomBytes } from 'node:crypto';
import { EtherType, IpProto, TcpFlag, TcpHdr, internetChecksum, pseudoHeaderSum } from '../../devices/net-wire.ts';
import type { Eni } from './eni.ts';
import { ethFrame, ipv4Packet } from './frames.ts';
import type { LinkLocalService } from './dataplane.ts';
import type { Ipv4Info } from './packet.ts';
import { TokenBucket } from './token-bucket.ts';

export const IMDS_ADDR = 0xa9fea9fe; // 169.254.169.254
const MSS = 1460;
const MAX_REQUEST = 8192;

interface Conn { ourSeq: number; theirNext: number; buf: string; answered: boolean; finSent: boolean; peerMss: number }

const enc = new TextEncoder();
const dec = new TextDecoder();

export class ImdsService implements LinkLocalService {
  readonly ip = IMDS_ADDR;
  private readonly conns = new Map<string, Conn>();
  private readonly tokens = new Map<string, { eniId: string; expiresMs: number }>();
  private readonly allowance = new Map<string, TokenBucket>();

  constructor(private readonly gatewayMac: Uint8Array, private readonly nowMs: () => number = Date.now) {}

  handle(req: { eni: Eni; frame: Uint8Array; ip: Ipv4Info; reply(frame: Uint8Array): void }): void {
    const { eni, frame, ip } = req;
    let bucket = this.allowance.get(eni.config.eniId);
    if (!bucket) this.allowance.set(eni.config.eniId, (bucket = new TokenBucket({ size: 1024, oneTimeBurst: 0, refillTimeMs: 1000 }, BigInt(this.nowMs()) * 1_000_000n)));
    if (!bucket.consume(1, BigInt(this.nowMs()) * 1_000_000n)) { eni.counters.linklocal_allowance_exceeded++; return eni.drop('linklocal-allowance'); }
    if (ip.proto !== IpProto.TCP || ip.dstPort !== 80) return eni.drop('imds-not-tcp-80');
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const T = TcpHdr.offset;
    const seq = v.getUint32(ip.l4Off + T.seq);
    const hlen = (v.getUint8(ip.l4Off + T.data_offset) >> 4) * 4;
    const payload = frame.subarray(ip.l4Off + hlen, 14 + ip.totalLength);
    const key = `${eni.config.eniId}|${ip.srcPort}`;
    const send = (s: number, a: number, flags: number, data: Uint8Array = new Uint8Array(0)) =>
      req.reply(this.segment(eni, ip.srcPort, s, a, flags, data));
    const f = ip.tcpFlags;
    if (f & TcpFlag.RST) { this.conns.delete(key); return; }
    if (f & TcpFlag.SYN) {
      const isn = randomBytes(4).readUInt32BE(0);
      const c: Conn = { ourSeq: (isn + 1) >>> 0, theirNext: (seq + 1) >>> 0, buf: '', answered: false, finSent: false, peerMss: mssOption(frame, ip.l4Off, hlen) ?? 536 };
      this.conns.set(key, c);
      return send(isn, c.theirNext, TcpFlag.SYN | TcpFlag.ACK);
    }
    const c = this.conns.get(key);
    if (!c) return send(v.getUint32(ip.l4Off + T.ack), (seq + payload.length) >>> 0, TcpFlag.RST | TcpFlag.ACK);
    if (payload.length > 0) {
      if (seq !== c.theirNext) return send(c.ourSeq, c.theirNext, TcpFlag.ACK); // out of order: re-ACK what we have
      c.theirNext = (c.theirNext + payload.length) >>> 0;
      c.buf += dec.decode(payload);
      if (c.buf.length > MAX_REQUEST) { this.conns.delete(key); return send(c.ourSeq, c.theirNext, TcpFlag.RST | TcpFlag.ACK); }
      if (!c.answered && c.buf.includes('\r\n\r\n')) {
        c.answered = true;
        const body = enc.encode(this.respond(eni, c.buf));
        const mss = Math.min(MSS, c.peerMss);
        for (let at = 0; at < body.length; at += mss) {
          const chunk = body.subarray(at, at + mss);
          send(c.ourSeq, c.theirNext, TcpFlag.ACK | TcpFlag.PSH, chunk);
          c.ourSeq = (c.ourSeq + chunk.length) >>> 0;
        }
        send(c.ourSeq, c.theirNext, TcpFlag.FIN | TcpFlag.ACK);
        c.ourSeq = (c.ourSeq + 1) >>> 0;
        c.finSent = true;
      } else {
        send(c.ourSeq, c.theirNext, TcpFlag.ACK);
      }
    }
    if (f & TcpFlag.FIN) {
      c.theirNext = (c.theirNext + 1) >>> 0;
      if (!c.finSent) { send(c.ourSeq, c.theirNext, TcpFlag.FIN | TcpFlag.ACK); c.ourSeq = (c.ourSeq + 1) >>> 0; c.finSent = true; }
      else send(c.ourSeq, c.theirNext, TcpFlag.ACK);
      this.conns.delete(key);
    }
  }

  /** The HTTP response for one request (status line, headers, body). */
  respond(eni: Eni, request: string): string {
    const [head = ''] = request.split('\r\n\r\n');
    const [line = '', ...hdrLines] = head.split('\r\n');
    const [method = '', path = ''] = line.split(' ');
    const hdr = new Map(hdrLines.map((h) => { const i = h.indexOf(':'); return [h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim()] as const; }));
    const now = this.nowMs();
    if (method === 'PUT' && path === '/latest/api/token') {
      const ttl = Number(hdr.get('x-aws-ec2-metadata-token-ttl-seconds'));
      if (!(Number.isInteger(ttl) && ttl >= 1 && ttl <= 21600)) return http(400, 'Bad Request', 'X-aws-ec2-metadata-token-ttl-seconds must be 1-21600\n');
      const token = randomBytes(32).toString('base64url');
      this.tokens.set(token, { eniId: eni.config.eniId, expiresMs: now + ttl * 1000 });
      return http(200, 'OK', token, [`X-Aws-Ec2-Metadata-Token-Ttl-Seconds: ${ttl}`]);
    }
    if (method !== 'GET') return http(405, 'Method Not Allowed', '');
    const token = hdr.get('x-aws-ec2-metadata-token');
    if (token !== undefined) {
      const t = this.tokens.get(token);
      if (!t || t.eniId !== eni.config.eniId || t.expiresMs <= now) return http(401, 'Unauthorized', '');
    }
    const md: Record<string, string> = { 'instance-id': eni.config.instanceId, 'local-ipv4': eni.config.privateIp, mac: eni.config.macAddress };
    if (path === '/latest/meta-data/' || path === '/latest/meta-data') return http(200, 'OK', Object.keys(md).join('\n'));
    const leaf = path.startsWith('/latest/meta-data/') ? md[path.slice('/latest/meta-data/'.length)] : undefined;
    return leaf === undefined ? http(404, 'Not Found', '') : http(200, 'OK', leaf);
  }

  private segment(eni: Eni, dstPort: number, seq: number, ack: number, flags: number, data: Uint8Array): Uint8Array {
    const t = new Uint8Array(TcpHdr.size + data.length);
    const v = new DataView(t.buffer);
    const T = TcpHdr.offset;
    v.setUint16(T.src_port, 80);
    v.setUint16(T.dst_port, dstPort);
    v.setUint32(T.seq, seq >>> 0);
    v.setUint32(T.ack, ack >>> 0);
    v.setUint8(T.data_offset, (TcpHdr.size / 4) << 4);
    v.setUint8(T.flags, flags);
    v.setUint16(T.window, 65535);
    t.set(data, TcpHdr.size);
    v.setUint16(T.checksum, internetChecksum(t, 0, t.length, pseudoHeaderSum(IMDS_ADDR, eni.ip, IpProto.TCP, t.length)));
    return ethFrame(eni.mac, this.gatewayMac, EtherType.IPV4, ipv4Packet({ src: IMDS_ADDR, dst: eni.ip, proto: IpProto.TCP }, t));
  }
}

function http(status: number, reason: string, body: string, extra: string[] = []): string {
  return [`HTTP/1.1 ${status} ${reason}`, 'Content-Type: text/plain', `Content-Length: ${enc.encode(body).length}`, 'Connection: close', 'Server: EC2ws', ...extra, '', body].join('\r\n');
}

/** The MSS option (kind 2) of a SYN, if present. */
function mssOption(f: Uint8Array, l4Off: number, hlen: number): number | undefined {
  for (let at = l4Off + TcpHdr.size; at < l4Off + hlen;) {
    const kind = f[at]!;
    if (kind === 0) return undefined;
    if (kind === 1) { at++; continue; }
    const len = f[at + 1] ?? 0;
    if (len < 2) return undefined;
    if (kind === 2 && len === 4) return ((f[at + 2]! << 8) | f[at + 3]!) >>> 0;
    at += len;
  }
  return undefined;
}

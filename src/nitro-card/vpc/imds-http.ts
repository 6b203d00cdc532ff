// IMDS's HTTP rules (EC2 UG "How Instance Metadata Service Version 2 works"): the request head is parsed strictly
// (RFC 9112 §3, §5: request line, field names are tokens, no obs-fold), IMDSv2 session tokens are issued by
// `PUT /latest/api/token` with X-aws-ec2-metadata-token-ttl-seconds 1–21600 and checked on GET/HEAD, tokens are
// required when the instance says so, and a token PUT carrying X-Forwarded-For is refused. The TCP side is imds.ts.
import { createHmac, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { identityDocument, listing, lookupNode, metadataTree, signIdentityDocument, type ImdsEni, type ImdsInstance } from './imds-metadata.ts';

export const TOKEN_PATH = '/latest/api/token';
export const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const MIN_TOKEN_TTL_S = 1;
export const MAX_TOKEN_TTL_S = 21600;

/** Why IMDS refused a request: the counter names (`imds.rejected.<reason>`). */
export type ImdsRejectReason =
  | 'malformed-request' | 'oversize-header' | 'method-not-allowed' | 'token-ttl-invalid' | 'forwarded-for'
  | 'token-required' | 'token-invalid' | 'token-expired' | 'endpoint-disabled' | 'unknown-instance' | 'too-many-connections';

export interface ImdsRequest { method: string; path: string; headers: ReadonlyMap<string, string> }

export type ParseResult = { ok: true; req: ImdsRequest } | { ok: false; detail: string };

const REQUEST_LINE = /^([A-Z]{1,16}) (\/[\x21-\x7e]*) HTTP\/1\.[01]$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Parse a request head (without the blank line). Header names are lower-cased; a repeated header keeps the last. */
export function parseRequestHead(head: string): ParseResult {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m) return { ok: false, detail: `bad request line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}` };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    const name = c > 0 ? line.slice(0, c) : '';
    if (!FIELD_NAME.test(name)) return { ok: false, detail: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
    const value = line.slice(c + 1).trim();
    if (!FIELD_VALUE.test(value)) return { ok: false, detail: `bad value for header ${name}` };
    headers.set(name.toLowerCase(), value);
  }
  const path = m[2]!.split('?')[0]!;
  return { ok: true, req: { method: m[1]!, path, headers } };
}

/**
 * IMDSv2 session tokens, kept nowhere: base64url(expiry ms, 8 bytes BE ‖ HMAC-SHA256(card secret, instance id ‖
 * expiry)). A token names its instance through the MAC, so it is worthless on any other instance, and a card restart
 * (new secret) ends every session, as a host change does on EC2.
 */
export class ImdsTokens {
  constructor(private readonly nowMs: () => number, private readonly secret: Buffer = randomBytes(32)) {}

  issue(instanceId: string, ttlS: number): string {
    const exp = Buffer.alloc(8);
    exp.writeBigUInt64BE(BigInt(this.nowMs() + ttlS * 1000));
    return Buffer.concat([exp, this.mac(instanceId, exp)]).toString('base64url');
  }

  check(instanceId: string, token: string): 'ok' | 'token-invalid' | 'token-expired' {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== 40 || raw.toString('base64url') !== token) return 'token-invalid';
    const exp = raw.subarray(0, 8);
    if (!timingSafeEqual(raw.subarray(8), this.mac(instanceId, exp))) return 'token-invalid';
    return Number(exp.readBigUInt64BE()) > this.nowMs() ? 'ok' : 'token-expired';
  }

  private mac(instanceId: string, exp: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(instanceId).update('\0').update(exp).digest();
  }
}

export interface ImdsReply {
  status: number;
  body: string;
  contentType?: string;
  headers?: string[];
  /** IP TTL for the reply's packets (the token PUT's hop limit); absent = the card's default. */
  ttl?: number;
  /** Set when the request was refused: counted and logged by the caller. */
  reject?: ImdsRejectReason;
  detail?: string;
}

const REASON: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
};

/** The status line, headers and (unless HEAD) body of a reply. Every reply closes the connection. */
export function httpText(r: ImdsReply, head = false): string {
  const body = Buffer.from(r.body, 'utf8');
  return [
    `HTTP/1.1 ${r.status} ${REASON[r.status] ?? 'Error'}`, `Content-Type: ${r.contentType ?? 'text/plain'}`,
    `Content-Length: ${body.length}`, 'Connection: close', 'Server: EC2ws', ...(r.headers ?? []), '', head ? '' : r.body,
  ].join('\r\n');
}

const reject = (status: number, reason: ImdsRejectReason, detail: string, extra: Partial<ImdsReply> = {}): ImdsReply =>
  ({ status, body: status === 401 || status === 403 ? '' : `${detail}\n`, reject: reason, detail, ...extra });

export interface ImdsResponderOptions {
  nowMs: () => number;
  /** The card identity key: signs the instance identity document. Absent = no `signature` path. */
  signingKey?: KeyObject | undefined;
}

export class ImdsResponder {
  readonly tokens: ImdsTokens;

  constructor(private readonly o: ImdsResponderOptions) {
    this.tokens = new ImdsTokens(o.nowMs);
  }

  /** Apply the IMDS rules to one parsed request from `inst`'s ENI. */
  answer(req: ImdsRequest, inst: ImdsInstance, eni: ImdsEni): ImdsReply {
    const opts = inst.options;
    if (req.path === TOKEN_PATH) {
      if (req.method !== 'PUT') return reject(405, 'method-not-allowed', `${req.method} ${TOKEN_PATH}: only PUT issues tokens`);
      const ttl = { ttl: opts.httpPutResponseHopLimit };
      // A PUT relayed by a proxy (X-Forwarded-For) must not get a token: EC2 answers 403.
      if (req.headers.has('x-forwarded-for')) return reject(403, 'forwarded-for', 'token PUT with X-Forwarded-For', ttl);
      const raw = req.headers.get(TTL_HEADER);
      const secs = raw !== undefined && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
      if (!(secs >= MIN_TOKEN_TTL_S && secs <= MAX_TOKEN_TTL_S)) {
        return reject(400, 'token-ttl-invalid', `X-aws-ec2-metadata-token-ttl-seconds ${raw === undefined ? 'missing' : JSON.stringify(raw.slice(0, 20))}: must be ${MIN_TOKEN_TTL_S}-${MAX_TOKEN_TTL_S}`, ttl);
      }
      return { status: 200, body: this.tokens.issue(inst.instanceId, secs), headers: [`X-Aws-Ec2-Metadata-Token-Ttl-Seconds: ${secs}`], ...ttl };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reject(405, 'method-not-allowed', `method ${req.method} on ${req.path}`);
    const token = req.headers.get(TOKEN_HEADER);
    if (token !== undefined) {
      const v = this.tokens.check(inst.instanceId, token);
      if (v !== 'ok') return reject(401, v, v === 'token-expired' ? 'session token expired' : 'session token not valid for this instance');
    } else if (opts.httpTokens === 'required') {
      return reject(401, 'token-required', 'httpTokens is required: GET without X-aws-ec2-metadata-token');
    }
    return this.resource(req.path, inst, eni);
  }

  private resource(path: string, inst: ImdsInstance, eni: ImdsEni): ImdsReply {
    const ok = (body: string, contentType?: string): ImdsReply => ({ status: 200, body, ...(contentType ? { contentType } : {}) });
    const notFound: ImdsReply = { status: 404, body: '' };
    if (path === '/') return ok('latest');
    if (path === '/latest' || path === '/latest/') return ok(['dynamic', 'meta-data', ...(inst.userData ? ['user-data'] : [])].join('\n'));
    if (path === '/latest/user-data') return inst.userData ? ok(inst.userData, 'application/octet-stream') : notFound;
    if (path === '/latest/meta-data' || path.startsWith('/latest/meta-data/')) {
      const node = lookupNode(metadataTree(inst, eni), path.split('/').slice(3));
      if (node === undefined) return notFound;
      return ok(typeof node === 'string' ? node : listing(node));
    }
    const id = '/latest/dynamic/instance-identity';
    if (path === '/latest/dynamic' || path === '/latest/dynamic/') return ok('instance-identity/');
    if (path === id || path === `${id}/`) return ok(['document', ...(this.o.signingKey ? ['signature'] : [])].join('\n'));
    if (path === `${id}/document`) return ok(identityDocument(inst, eni), 'application/json');
    if (path === `${id}/signature` && this.o.signingKey) return ok(signIdentityDocument(identityDocument(inst, eni), this.o.signingKey));
    return notFound;
  }
}

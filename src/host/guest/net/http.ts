// A minimal HTTP/1.1 client over the guest TCP (RFC 9112): one request per connection (Connection: close), response
// framing by Content-Length, chunked transfer coding, or connection close. Enough for IMDS and simple services.
import { formatIpv4, parseIpv4 } from '../../../devices/net-wire.ts';
import type { NetStack } from './stack.ts';
import { TcpError, type TcpConnection } from './tcp.ts';

export interface HttpUrl { readonly host: string; readonly ip: number; readonly port: number; readonly path: string }

export interface HttpRequest {
  readonly method: string;
  readonly url: HttpUrl;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Uint8Array;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly (readonly [string, string])[];
  /** Raw status line and header block, as received (for `curl -i`). */
  readonly head: string;
  readonly body: Uint8Array;
}

/** Failures with curl's exit codes: 3 bad URL, 7 cannot connect, 28 timeout, 56 receive error, 8 bad response. */
export class HttpError extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

export function parseHttpUrl(text: string): HttpUrl {
  const m = /^http:\/\/([^/:?#]+)(?::(\d{1,5}))?([^#]*)?$/u.exec(text);
  if (!m) throw new HttpError(3, `URL rejected: ${/^[a-z]+:\/\//u.test(text) && !text.startsWith('http://') ? 'Unsupported protocol' : 'Malformed input to a URL function'}`);
  const host = m[1]!;
  const ip = parseIpv4(host);
  if (ip === undefined) throw new HttpError(6, `Could not resolve host: ${host}`);
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535) throw new HttpError(3, 'URL rejected: Port number was not a decimal number between 0 and 65535');
  const rest = m[3] ?? '';
  return { host, ip, port, path: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}` };
}

const enc = new TextEncoder();

export async function httpRequest(stack: NetStack, req: HttpRequest): Promise<HttpResponse> {
  const p = stack.platform;
  const deadline = p.nowNs() + BigInt(req.timeoutMs) * 1_000_000n;
  const left = (): number => Math.max(0, Number(deadline - p.nowNs()) / 1e6);
  let conn: TcpConnection;
  try {
    conn = await connectWithin(stack, req.url.ip, req.url.port, left(), req.signal);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const why = err instanceof TcpError ? (err.code === 'ECONNREFUSED' ? 'Connection refused' : err.code === 'ETIMEDOUT' ? 'Connection timed out' : err.message) : String(err);
    throw new HttpError(7, `Failed to connect to ${req.url.host} port ${req.url.port}: ${why}`);
  }
  try {
    const lines = [`${req.method} ${req.url.path} HTTP/1.1`];
    const names = new Set(req.headers.map(([k]) => k.toLowerCase()));
    if (!names.has('host')) lines.push(`Host: ${req.url.port === 80 ? req.url.host : `${req.url.host}:${req.url.port}`}`);
    if (!names.has('user-agent')) lines.push('User-Agent: curl/8.5.0 (nitrolab guest)');
    if (!names.has('accept')) lines.push('Accept: */*');
    for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
    if (req.body && !names.has('content-length')) lines.push(`Content-Length: ${req.body.length}`);
    lines.push('Connection: close', '', '');
    await conn.write(enc.encode(lines.join('\r\n')));
    if (req.body) await conn.write(req.body);
    return await readResponse(conn, left, req.method === 'HEAD', req.signal);
  } finally {
    if (conn.state === 'CLOSED') { /* gone already */ } else void conn.close().then(() => undefined);
  }
}

/** Active open bounded by `ms` (curl's --max-time covers the connect too); a late connection is aborted. */
async function connectWithin(stack: NetStack, ip: number, port: number, ms: number, signal: AbortSignal | undefined): Promise<TcpConnection> {
  const p = stack.tcp.connect(ip, port);
  const timer = stack.sleep(ms).then(() => undefined);
  const aborted = new Promise<undefined>((r) => signal?.addEventListener('abort', () => r(undefined), { once: true }));
  const c = await Promise.race([p, timer, aborted]);
  if (c) return c;
  p.then((late) => late.abort(), () => {});
  throw new HttpError(28, `Connection timed out after ${Math.round(ms)} milliseconds`);
}

async function readResponse(conn: TcpConnection, left: () => number, head: boolean, signal: AbortSignal | undefined): Promise<HttpResponse> {
  let buf = new Uint8Array(0);
  let eof = false;
  const more = async (): Promise<void> => {
    if (eof) throw new HttpError(56, 'Failure when receiving data from the peer');
    const ms = left();
    if (ms <= 0) throw new HttpError(28, 'Operation timed out');
    let chunk: Uint8Array | null | undefined;
    try {
      chunk = await conn.read(ms, signal);
    } catch (err) {
      throw new HttpError(56, `Recv failure: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (chunk === undefined) throw new HttpError(28, 'Operation timed out');
    if (chunk === null) { eof = true; return; }
    const n = new Uint8Array(buf.length + chunk.length);
    n.set(buf);
    n.set(chunk, buf.length);
    buf = n;
  };
  let end: number;
  for (;;) {
    end = indexOfCrlfCrlf(buf);
    if (end >= 0) break;
    if (eof) throw new HttpError(52, 'Empty reply from server');
    await more();
  }
  const headText = new TextDecoder().decode(buf.subarray(0, end));
  let rest = buf.subarray(end + 4);
  const [statusLine, ...headerLines] = headText.split('\r\n');
  const sm = /^(HTTP\/\d(?:\.\d)?) (\d{3})(?: (.*))?$/u.exec(statusLine ?? '');
  if (!sm) throw new HttpError(8, 'Unsupported HTTP response: bad status line');
  const headers = headerLines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as const;
  });
  const get = (name: string): string | undefined => headers.find(([k]) => k.toLowerCase() === name)?.[1];
  const status = Number(sm[2]);
  const base = { version: sm[1]!, status, reason: sm[3] ?? '', headers, head: headText };
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return { ...base, body: new Uint8Array(0) };
  if ((get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
    const parts: Uint8Array[] = [];
    for (;;) {
      let nl = indexOfCrlf(rest);
      while (nl < 0) { buf = rest; await more(); rest = buf; nl = indexOfCrlf(rest); }
      const size = parseInt(new TextDecoder().decode(rest.subarray(0, nl)).split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size)) throw new HttpError(56, 'Malformed chunk size');
      rest = rest.subarray(nl + 2);
      if (size === 0) break;
      while (rest.length < size + 2) { buf = rest; await more(); rest = buf; }
      parts.push(rest.slice(0, size));
      rest = rest.subarray(size + 2);
    }
    return { ...base, body: concat(parts) };
  }
  const cl = get('content-length');
  if (cl !== undefined) {
    const n = Number(cl);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(8, 'Invalid Content-Length');
    while (rest.length < n) { buf = rest; await more(); rest = buf; }
    return { ...base, body: rest.slice(0, n) };
  }
  while (!eof) { buf = rest; await more(); rest = buf; }
  return { ...base, body: rest.slice() };
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}
function indexOfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export const describeUrl = (u: HttpUrl): string => `${formatIpv4(u.ip)}:${u.port}${u.path}`;

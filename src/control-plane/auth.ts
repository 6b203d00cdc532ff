// API keys on the /v1 API (off unless an apiToken is configured; /healthz, /docs, /openapi.json and the panel's static
// files stay open). Two keys: the admin key may do anything; the read-only key may only read (GET/HEAD). A key comes
// in `Authorization: Bearer <key>`, or — for a browser on the panel — in the `nitrolab_key` cookie that
// `/?apiKey=<key>` sets (HttpOnly, SameSite=Strict), or as `?apiKey=` on a websocket upgrade (browsers cannot set
// headers there).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

export const API_KEY_COOKIE = 'nitrolab_key';

function same(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  return same(header.slice('Bearer '.length), token);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function queryKey(url: string): string | undefined {
  const q = url.indexOf('?');
  return q < 0 ? undefined : new URLSearchParams(url.slice(q + 1)).get('apiKey') ?? undefined;
}

/** The key a request presents, and where it came from. */
export function presentedKey(req: Pick<FastifyRequest, 'headers' | 'url'>): { key: string; via: 'bearer' | 'cookie' | 'query' } | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) return auth.startsWith('Bearer ') ? { key: auth.slice('Bearer '.length), via: 'bearer' } : { key: '', via: 'bearer' };
  const c = cookieValue(req.headers.cookie, API_KEY_COOKIE);
  if (c !== undefined) return { key: c, via: 'cookie' };
  if (String(req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
    const q = queryKey(req.url);
    if (q !== undefined) return { key: q, via: 'query' };
  }
  return undefined;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** An onRequest hook that refuses /v1/* requests without a valid key (401), and writes with the read-only key (403). */
export function requireToken(token: string, readOnlyToken?: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!req.url.startsWith('/v1/')) {
      // The panel page: `/?apiKey=<key>` hands the browser a cookie so its fetches and websocket carry the key.
      const q = req.method === 'GET' ? queryKey(req.url) : undefined;
      if (q !== undefined && (same(q, token) || (readOnlyToken !== undefined && same(q, readOnlyToken)))) {
        void reply.header('set-cookie', `${API_KEY_COOKIE}=${encodeURIComponent(q)}; HttpOnly; SameSite=Strict; Path=/`);
      }
      return;
    }
    const p = presentedKey(req);
    if (p === undefined) throw new ApiError('Unauthorized', 'Missing Authorization: Bearer <api key> header');
    if (same(p.key, token)) return;
    if (readOnlyToken !== undefined && same(p.key, readOnlyToken)) {
      if (READ_METHODS.has(req.method)) return;
      throw new ApiError('UnauthorizedOperation', `${req.method} needs the admin API key; this key is read-only`);
    }
    throw new ApiError('Unauthorized', 'API key does not match');
  };
}

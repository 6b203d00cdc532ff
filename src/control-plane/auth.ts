// Optional bearer-token check on the /v1 API (off unless an apiToken is configured; /healthz, /docs stay open).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** An onRequest hook that refuses /v1/* requests without the right token. */
export function requireToken(token: string) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!req.url.startsWith('/v1/')) return;
    if (!bearerMatches(req.headers.authorization, token)) {
      throw new ApiError('Unauthorized', req.headers.authorization ? 'Bearer token does not match' : 'Missing Authorization: Bearer <token> header');
    }
  };
}

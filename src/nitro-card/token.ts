// The card's management token: generated on the card's first boot in its data dir (mode 0600); the control plane of
// the same installation reads it from there. Anyone without it gets 401 from the management API.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE = 'mgmt.token';

export function ensureCardToken(cardDir: string): string {
  mkdirSync(cardDir, { recursive: true });
  const path = join(cardDir, TOKEN_FILE);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, token + '\n', { mode: 0o600 });
  return token;
}

export function readCardToken(cardDir: string): string {
  return readFileSync(join(cardDir, TOKEN_FILE), 'utf8').trim();
}

/** Constant-time check of an `Authorization: Bearer …` header value. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

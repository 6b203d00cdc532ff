// The REST API keys `nitrolab up` enforces: NITROLAB_API_KEY (admin) and NITROLAB_API_KEY_READONLY when set, else
// keys generated on first start and kept in <data-dir>/api-keys.json (mode 0600), so a restart keeps them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const API_KEYS_FILE = 'api-keys.json';

export interface ApiKeys {
  admin: string;
  readOnly: string;
  file: string;
  /** True when this call generated (and saved) at least one key: print it once. */
  generated: boolean;
  /** Where the admin key came from. */
  source: 'env' | 'file' | 'generated';
}

const newKey = (prefix: string) => `${prefix}${randomBytes(24).toString('base64url')}`;

export function resolveApiKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): ApiKeys {
  const file = join(dataDir, API_KEYS_FILE);
  let saved: { admin?: string; readOnly?: string } = {};
  if (existsSync(file)) {
    try { saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved; } catch { saved = {}; }
  }
  const fromEnv = env.NITROLAB_API_KEY !== undefined && env.NITROLAB_API_KEY !== '';
  const admin = fromEnv ? env.NITROLAB_API_KEY! : saved.admin ?? newKey('nla_');
  const readOnly = env.NITROLAB_API_KEY_READONLY || saved.readOnly || newKey('nlr_');
  const generated = (!fromEnv && saved.admin === undefined) || (!env.NITROLAB_API_KEY_READONLY && saved.readOnly === undefined);
  if (generated) {
    const keep = { ...(fromEnv ? {} : { admin }), readOnly };
    writeFileSync(file, JSON.stringify({ ...saved, ...keep }, null, 2) + '\n', { mode: 0o600 });
  }
  return { admin, readOnly, file, generated, source: fromEnv ? 'env' : saved.admin !== undefined ? 'file' : 'generated' };
}

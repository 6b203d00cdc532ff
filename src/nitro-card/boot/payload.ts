// The firmware payload: what the card "runs". In the emulator the card's code is the TypeScript in this repository, so
// the payload is a deterministic manifest of that code (path, SHA-256, size of every card and device source file) plus
// the configuration defaults the card boots with, serialised as canonical JSON. Same sources in, same bytes out: no
// timestamps, sorted paths. Changing one line of card code changes the payload hash, hence PCR2.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalBytes, type JsonValue } from './canonical-json.ts';
import { sha256Hex } from './pcr.ts';

export const PAYLOAD_FORMAT = 'nitrolab-card-payload/1';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Source trees that make up the card: its services and the device models it hosts. */
export const CARD_CODE_DIRS = ['src/nitro-card', 'src/devices'] as const;

/** Defaults the card boots with unless its command line overrides them. */
export const CARD_DEFAULTS = {
  mode: 'offload',
  link: 'socket',
  nvme: {
    maxQueuePairs: 16,
    mqes: 1023,
    ebs: { model: 'Amazon Elastic Block Store' },
    instanceStore: { model: 'Amazon EC2 NVMe Instance Storage' },
  },
  net: { mtu: 9001, queuePairs: 2 },
  imds: { address: '169.254.169.254', hopLimit: 1 },
} as const satisfies { readonly [k: string]: JsonValue };

export interface CodeFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface CardPayload {
  readonly format: typeof PAYLOAD_FORMAT;
  readonly config: { readonly [k: string]: JsonValue };
  readonly code: readonly CodeFile[];
}

export interface BuildPayloadOptions {
  /** Directory the code paths are relative to (default: the repository root). */
  readonly codeRoot?: string;
  /** Directories under codeRoot to hash (default CARD_CODE_DIRS); missing ones are skipped. */
  readonly codeDirs?: readonly string[];
  readonly config?: { readonly [k: string]: JsonValue };
}

/** Hash the card's sources and serialise the payload (canonical JSON + newline). */
export function buildPayload(opts: BuildPayloadOptions = {}): Buffer {
  const root = opts.codeRoot ?? REPO_ROOT;
  const code: CodeFile[] = [];
  for (const dir of opts.codeDirs ?? CARD_CODE_DIRS) {
    for (const file of listFiles(join(root, dir))) {
      const bytes = readFileSync(file);
      code.push({ path: relative(root, file).split(sep).join('/'), sha256: sha256Hex(bytes), size: bytes.length });
    }
  }
  code.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const payload: CardPayload = { format: PAYLOAD_FORMAT, config: opts.config ?? CARD_DEFAULTS, code };
  return Buffer.concat([canonicalBytes(payload), Buffer.from('\n')]);
}

/** Read a payload back (e.g. for the card's configuration defaults). Throws a plain Error naming what is wrong. */
export function parsePayload(bytes: Uint8Array): CardPayload {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new Error(`payload is not JSON (${(e as Error).message})`);
  }
  const p = json as Partial<CardPayload> | null;
  if (p?.format !== PAYLOAD_FORMAT) throw new Error(`payload format is ${JSON.stringify(p?.format)}, expected "${PAYLOAD_FORMAT}"`);
  if (typeof p.config !== 'object' || p.config === null || Array.isArray(p.config)) throw new Error('payload config is not an object');
  if (!Array.isArray(p.code)) throw new Error('payload code is not an array');
  return p as CardPayload;
}

function listFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return listFiles(full);
    return e.isFile() && e.name.endsWith('.ts') ? [full] : [];
  });
}

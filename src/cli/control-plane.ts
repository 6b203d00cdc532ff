// `nitrolab control-plane`: the REST API alone, pointed at cards that are already running (started with
// `nitrolab card`, possibly on other machines). Each --card is `URL,TOKEN_FILE[,HOST_ID]`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { intFlag, parse, UsageError } from './args.ts';
import { resolveApiKeys } from './api-keys.ts';
import { mkdirSync } from 'node:fs';
import { createRootLogger, isLogLevel } from '../common/log.ts';
import type { CardEndpoint } from '../control-plane/card-contract.ts';

export function parseCardSpec(spec: string, i: number): CardEndpoint {
  const [url, tokenFile, hostId] = spec.split(',');
  if (!url || !/^https?:\/\//.test(url) || !tokenFile) {
    throw new UsageError(`--card ${spec} must be URL,TOKEN_FILE[,HOST_ID] (e.g. http://127.0.0.1:37211,/tmp/card/mgmt.token)`);
  }
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`cannot read the card token file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { url: url.replace(/\/$/, ''), token, hostId: hostId ?? `host-${i}` };
}

export async function runControlPlane(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    card: { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const specs = values.card ?? [];
  if (specs.length === 0) throw new UsageError('give at least one --card URL,TOKEN_FILE[,HOST_ID]');
  const level = values['log-level'];
  if (level !== undefined && !isLogLevel(level)) throw new UsageError(`--log-level ${level} is not a pino level`);
  const log = createRootLogger({ name: 'control-plane', ...(level !== undefined && isLogLevel(level) ? { level } : {}) });
  const { startControlPlane } = await import('../control-plane/server.ts');
  const dataDir = resolve(values['data-dir'] ?? '.nitrolab/control-plane');
  mkdirSync(dataDir, { recursive: true });
  // The same keys as `nitrolab up`: NITROLAB_API_KEY(_READONLY) or keys generated once into <data-dir>/api-keys.json.
  const keys = resolveApiKeys(dataDir);
  const cp = await startControlPlane({
    port: intFlag('port', values.port, 8080, 0, 65535),
    host: values.host ?? '127.0.0.1',
    dataDir,
    cards: specs.map(parseCardSpec),
    logger: log,
    apiToken: keys.admin,
    apiReadOnlyToken: keys.readOnly,
  });
  process.stdout.write(`control plane on ${cp.url} (API ${cp.url}/v1/instances, docs ${cp.url}/docs)\n` +
    (keys.generated && keys.source !== 'env'
      ? `API keys: admin ${keys.admin}, read-only ${keys.readOnly} (saved in ${keys.file})\n`
      : `API keys in ${keys.source === 'env' ? 'NITROLAB_API_KEY (admin) and ' : ''}${keys.file}\n`));
  if (process.send) process.send({ type: 'ready', url: cp.url, apiKeysFile: keys.file });
  const stop = async () => { await cp.close(); process.exit(0); };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await new Promise<never>(() => {});
  return 0;
}

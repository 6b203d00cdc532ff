// `nitrolab blockstore`: the EBS-like block store alone, an NBD server (docs/block-store.md) whose exports are the
// volumes kept in --dir. `nitrolab up` runs the same server inside its own process; this command is for running it
// on its own (another machine, a crash test, real NBD clients). Exports already in --dir are served at once;
// `--create vol-…:SIZE` adds one (SIZE in bytes, or with a K/M/G suffix).
import { resolve } from 'node:path';
import { intFlag, parse, UsageError } from './args.ts';
import { createRootLogger, isLogLevel } from '../common/log.ts';
import { startBlockStore, BlockStoreError } from '../blockstore/server.ts';

/** `host:port`, `:port`, `port` or a Unix socket path (anything with a '/'). */
export function parseListen(spec: string): { host: string; port: number } | { socketPath: string } {
  if (spec.includes('/')) return { socketPath: spec };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):?(\d+)?$/.exec(spec);
  const portText = m?.[3] ?? (/^\d+$/.test(spec) ? spec : undefined);
  if (m === null || portText === undefined) throw new UsageError(`--listen ${spec} is not host:port, :port or a socket path`);
  const host = /^\d+$/.test(spec) ? '127.0.0.1' : (m[1] ?? m[2] ?? '') || '127.0.0.1';
  return { host, port: intFlag('listen', portText, 0, 0, 65535) };
}

export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)(?:i?B)?$/i.exec(text);
  if (m === null) throw new UsageError(`size ${text} is not a number of bytes (suffixes K, M, G, T)`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * mult;
}

export async function runBlockstore(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    listen: { type: 'string' },
    dir: { type: 'string' },
    create: { type: 'string', multiple: true },
    'log-level': { type: 'string' },
  });
  const level = values['log-level'];
  if (level !== undefined && !isLogLevel(level)) throw new UsageError(`--log-level ${level} is not a pino level`);
  const listen = parseListen(values.listen ?? '127.0.0.1:10809');
  const dir = resolve(values.dir ?? '.nitrolab/blockstore');
  const creates = (values.create ?? []).map((c) => {
    const [name, size] = c.split(':');
    if (!name || !size) throw new UsageError(`--create ${c} must be vol-…:SIZE`);
    return { name, sizeBytes: parseSize(size) };
  });
  const log = createRootLogger({ name: 'blockstore', ...(level !== undefined && isLogLevel(level) ? { level } : {}) });
  const bs = await startBlockStore({ ...listen, dir, log });
  for (const c of creates) {
    try {
      if (!bs.listExports().some((e) => e.name === c.name)) await bs.createExport(c.name, c.sizeBytes);
    } catch (e) {
      if (!(e instanceof BlockStoreError)) throw e;
      await bs.close();
      throw new UsageError(`--create ${c.name}: ${e.message}`);
    }
  }
  const url = bs.url('');
  if (process.send) process.send({ type: 'ready', url, exports: bs.listExports().map((e) => e.name) });
  else process.stdout.write(`block store ${url} serving ${bs.listExports().length} export(s) from ${dir}\n`);
  const stop = async () => {
    await bs.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await new Promise<never>(() => {});
  return 0;
}

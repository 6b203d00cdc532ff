// `nitrolab up`: one command, embedded defaults, everything on loopback. Spawns a card service and a host emulator
// per host (separate OS processes; with --link shm the card runs in a worker thread of its host process), runs the
// control plane itself, supervises the children, and prints the URLs.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { intFlag, oneOf, parse, UsageError } from './args.ts';
import { createRootLogger, isLogLevel, type Logger } from '../common/log.ts';
import { reportDeath, spawnNitrolab, type ChildHandle } from './spawn.ts';
import { readCardToken } from '../nitro-card/token.ts';
import { resolveApiKeys } from './api-keys.ts';
import { restartPolicyFromEnv, supervise } from './supervise.ts';
import { capacityFlags } from './capacity-flags.ts';

export interface UpOptions {
  port: number;
  host: string;
  dataDir: string;
  link: 'socket' | 'shm';
  hosts: number;
  mode: 'offload' | 'legacy';
  pcpus: number;
  guestMemMiB: number;
  /** TCP port of the in-process block store on loopback (0 = any free port). */
  blockstorePort: number;
  /** Grace period of an orderly guest shutdown before a stop is forced. */
  shutdownGraceMs: number;
  /** Capacity each card advertises, where it replaces the default (src/nitro-card/capacity.ts). */
  cardVcpus?: number | undefined;
  cardMemMiB?: number | undefined;
}

export function parseUpArgs(argv: string[]): UpOptions & { logLevel: string | undefined } {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    link: { type: 'string' },
    hosts: { type: 'string' },
    mode: { type: 'string' },
    pcpus: { type: 'string' },
    'guest-mem-mib': { type: 'string' },
    'blockstore-port': { type: 'string' },
    'shutdown-grace-ms': { type: 'string' },
    'card-vcpus': { type: 'string' },
    'card-mem-mib': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const host = values.host ?? '127.0.0.1';
  const capacity = capacityFlags(values['card-vcpus'], values['card-mem-mib'], 'card-'); // validates both
  if (values['log-level'] !== undefined && !isLogLevel(values['log-level'])) throw new UsageError(`--log-level ${values['log-level']} is not a pino level`);
  return {
    port: intFlag('port', values.port, 8080, 0, 65535),
    host,
    dataDir: resolve(values['data-dir'] ?? '.nitrolab'),
    link: oneOf('link', values.link, ['socket', 'shm'] as const, 'socket'),
    hosts: intFlag('hosts', values.hosts, 1, 1, 16),
    mode: oneOf('mode', values.mode, ['offload', 'legacy'] as const, 'offload'),
    pcpus: intFlag('pcpus', values.pcpus, 2, 1, 64),
    blockstorePort: intFlag('blockstore-port', values['blockstore-port'], 0, 0, 65535),
    guestMemMiB: intFlag('guest-mem-mib', values['guest-mem-mib'], 32, 4, 4096),
    shutdownGraceMs: intFlag('shutdown-grace-ms', values['shutdown-grace-ms'], 5000, 0, 600_000),
    cardVcpus: values['card-vcpus'] !== undefined ? capacity.vcpus : undefined,
    cardMemMiB: values['card-mem-mib'] !== undefined ? capacity.memMiB : undefined,
    logLevel: values['log-level'],
  };
}

interface HostPair { hostId: string; card?: ChildHandle; host: ChildHandle; mgmtUrl: string }

async function startHostPair(i: number, o: UpOptions, log: Logger, pretty: boolean, logArgs: string[]): Promise<HostPair> {
  const hostId = `host-${i}`;
  const dir = join(o.dataDir, 'hosts', hostId);
  mkdirSync(dir, { recursive: true });
  const linkPath = join(dir, 'link.sock');
  const common = ['--host-id', hostId, '--mode', o.mode, ...logArgs];
  const grace = ['--shutdown-grace-ms', String(o.shutdownGraceMs)];
  const cap = (prefix: string): string[] => [
    ...(o.cardVcpus !== undefined ? [`--${prefix}vcpus`, String(o.cardVcpus)] : []),
    ...(o.cardMemMiB !== undefined ? [`--${prefix}mem-mib`, String(o.cardMemMiB)] : []),
  ];
  if (o.link === 'socket') {
    const card = spawnNitrolab(`card ${hostId}`, ['card', '--listen', linkPath, '--data-dir', join(dir, 'card'), '--mgmt-port', '0', '--guest-mem-mib', String(o.guestMemMiB), ...cap(''), ...grace, ...common], log, { pretty });
    const ready = await card.ready;
    const host = spawnNitrolab(`host ${hostId}`, ['host', '--card', linkPath, '--pcpus', String(o.pcpus), '--guest-mem-mib', String(o.guestMemMiB), ...common], log, { pretty });
    await host.ready;
    return { hostId, card, host, mgmtUrl: String(ready.mgmtUrl) };
  }
  // shm: the card is a worker thread inside the host process, reached over SharedArrayBuffer rings.
  const host = spawnNitrolab(`host ${hostId}`, ['host', '--embedded-card', '--data-dir', join(dir, 'card'), '--pcpus', String(o.pcpus), '--guest-mem-mib', String(o.guestMemMiB), ...cap('card-'), ...grace, ...common], log, { pretty });
  const ready = await host.ready;
  return { hostId, host, mgmtUrl: String(ready.mgmtUrl) };
}

export async function runUp(argv: string[]): Promise<number> {
  const opts = parseUpArgs(argv);
  const pretty = process.stdout.isTTY === true;
  const log = createRootLogger({ name: 'nitrolab', ...(opts.logLevel !== undefined && isLogLevel(opts.logLevel) ? { level: opts.logLevel } : {}) });
  const logArgs = opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : [];
  mkdirSync(opts.dataDir, { recursive: true });
  // The EBS block store (an NBD server) runs in this process, on loopback, with its volumes in <data-dir>/blockstore;
  // the control plane creates and deletes its exports, the cards connect to them (--blockstore).
  const { startBlockStore } = await import('../blockstore/server.ts');
  const { blockStoreAdmin } = await import('../blockstore/admin.ts');
  const blockstoreDir = join(opts.dataDir, 'blockstore');
  const blockStore = await startBlockStore({ host: '127.0.0.1', port: opts.blockstorePort, dir: blockstoreDir, log: log.child({ component: 'blockstore' }) });
  const childArgs = [...logArgs, '--blockstore', blockStore.url('')];

  const pairs: HostPair[] = [];
  let stopping = false;
  const children = () => pairs.flatMap((p) => (p.card ? [p.card, p.host] : [p.host]));
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'shutdown' }, 'shutting down');
    await cp?.close().catch(() => {});
    await Promise.all(children().map((c) => c.stop()));
    await blockStore.close().catch(() => {});
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  let cp: { url: string; close(): Promise<void> } | undefined;
  try {
    for (let i = 0; i < opts.hosts; i++) pairs.push(await startHostPair(i, opts, log, pretty, childArgs));
  } catch (e) {
    log.error({ event: 'start-failed', err: (e as Error).message }, (e as Error).message);
    await Promise.all(children().map((c) => c.stop()));
    await blockStore.close().catch(() => {});
    return 1;
  }
  // A dead card or host is reported and restarted with backoff (supervise.ts).
  supervise(pairs, { log, pretty, stopping: () => stopping, policy: restartPolicyFromEnv(process.env) });

  const keys = resolveApiKeys(opts.dataDir);
  const { startControlPlane } = await import('../control-plane/server.ts');
  const { panelPlugin } = await import('../control-plane/panel-plugin.ts');
  const plane = await startControlPlane({
    port: opts.port,
    host: opts.host,
    dataDir: opts.dataDir,
    blockStore: blockStoreAdmin(blockStore, blockstoreDir),
    cards: pairs.map((p) => ({ hostId: p.hostId, url: p.mgmtUrl, token: readCardToken(join(opts.dataDir, 'hosts', p.hostId, 'card')) })),
    logger: log.child({ component: 'control-plane' }),
    apiToken: keys.admin,
    apiReadOnlyToken: keys.readOnly,
    plugins: [{ plugin: panelPlugin, options: { apiToken: keys.admin } }],
  });
  cp = plane;
  const base = plane.url.replace(/\/$/, '');
  const banner = [
    `nitrolab is up (${opts.hosts} host${opts.hosts > 1 ? 's' : ''}, link ${opts.link}, mode ${opts.mode}, data ${opts.dataDir})`,
    `  REST API   ${base}/v1/instances`,
    `  volumes    ${base}/v1/volumes   (block store ${blockStore.url('')}, data in ${blockstoreDir})`,
    `  API docs   ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
    `  panel      ${base}/?apiKey=<admin key>   (opens the panel with a cookie holding the key)`,
    keys.generated
      ? `  API keys   admin ${keys.source === 'env' ? '(NITROLAB_API_KEY)' : keys.admin}   read-only ${keys.readOnly}   (saved in ${keys.file})`
      : `  API keys   ${keys.source === 'env' ? 'admin from NITROLAB_API_KEY, read-only' : 'admin and read-only'} in ${keys.file}`,
    `  try:       export NITROLAB_API_KEY=${keys.generated && keys.source !== 'env' ? keys.admin : '<admin key>'}`,
    `             curl -s -X POST ${base}/v1/instances -H "authorization: Bearer $NITROLAB_API_KEY" -H 'content-type: application/json' \\`,
    `               -d '{"instanceType":"m5.large","volumes":[{"sizeGiB":1}],"userData":"fio --name=t --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=16 --size=4m --verify=crc32c"}'`,
  ].join('\n');
  process.stdout.write(banner + '\n');
  log.info({ event: 'up', url: base, hosts: opts.hosts, link: opts.link, mode: opts.mode }, 'nitrolab is up');
  if (process.send) process.send({ type: 'ready', url: base });
  await new Promise<never>(() => {});
  return 0;
}

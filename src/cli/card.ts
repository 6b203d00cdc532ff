// `nitrolab card`: one card service as its own OS process. It boots through the security chip, listens for the
// PCIe link (Unix socket or TCP) and serves its management API on loopback. It never dials out.
import { intFlag, oneOf, parse, UsageError } from './args.ts';
import { createRootLogger, isLogLevel } from '../common/log.ts';
import { listenLink } from '../devices/pcie/link/socket-transport.ts';
import { cardLinkAccount, startCard } from '../nitro-card/start.ts';
import { FirmwareError } from '../nitro-card/boot/firmware.ts';
import { capacityFlags } from './capacity-flags.ts';
import { parseNbdUrl } from '../nitro-card/ebs/nbd-url.ts';

/** `--blockstore` must be an NBD URI the card's client can use (nbd://host:port, nbd+unix:///?socket=…). */
export function checkBlockstoreUrl(url: string): void {
  try { parseNbdUrl(url); } catch (e) { throw new UsageError(`--blockstore: ${(e as Error).message}`); }
}

export async function runCard(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    listen: { type: 'string' },
    'data-dir': { type: 'string' },
    'mgmt-port': { type: 'string' },
    'mgmt-host': { type: 'string' },
    'host-id': { type: 'string' },
    mode: { type: 'string' },
    firmware: { type: 'string' },
    'root-key': { type: 'string' },
    'guest-mem-mib': { type: 'string' },
    vcpus: { type: 'string' },
    'mem-mib': { type: 'string' },
    blockstore: { type: 'string' },
    'shutdown-grace-ms': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.listen === undefined) throw new UsageError('--listen <unix-path|host:port> is required');
  if (values.blockstore !== undefined) checkBlockstoreUrl(values.blockstore);
  const level = values['log-level'];
  if (level !== undefined && !isLogLevel(level)) throw new UsageError(`--log-level ${level} is not a pino level`);
  const hostId = values['host-id'] ?? 'host-0';
  const log = createRootLogger({ name: `card ${hostId}`, ...(level !== undefined && isLogLevel(level) ? { level } : {}) });
  let running;
  try {
    running = await startCard({
      hostId,
      dataDir: values['data-dir'] ?? '.nitrolab/card',
      mode: oneOf('mode', values.mode, ['offload', 'legacy'] as const, 'offload'),
      link: 'socket',
      mgmtHost: values['mgmt-host'] ?? '127.0.0.1',
      mgmtPort: intFlag('mgmt-port', values['mgmt-port'], 0, 0, 65535),
      firmwareDir: values.firmware,
      rootKey: values['root-key'],
      guestMemBytes: intFlag('guest-mem-mib', values['guest-mem-mib'], 32, 4, 4096) * 1024 * 1024,
      capacity: capacityFlags(values.vcpus, values['mem-mib']),
      blockstore: values.blockstore,
      shutdownGraceMs: intFlag('shutdown-grace-ms', values['shutdown-grace-ms'], 5000, 0, 600_000),
      log,
    });
  } catch (e) {
    if (e instanceof FirmwareError) {
      process.stderr.write(`nitrolab card: firmware rejected (${e.check}): ${e.message}\n`);
      return 4;
    }
    throw e;
  }
  const server = await listenLink(values.listen, (peer) => running.attach(peer), { name: 'card-link', account: cardLinkAccount });
  log.info({ event: 'link-listening', address: values.listen }, `PCIe link listening on ${values.listen}`);
  if (process.send) process.send({ type: 'ready', mgmtUrl: running.mgmtUrl, tokenPath: running.tokenPath });
  else process.stdout.write(`card ${hostId}: management API ${running.mgmtUrl} (token in ${running.tokenPath}); link ${values.listen}\n`);
  const stop = async () => {
    await server.close();
    await running.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await new Promise<never>(() => {});
  return 0;
}

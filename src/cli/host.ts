// `nitrolab host`: one host emulator process. The main thread is the hypervisor: it connects its management channel
// to the card and then only obeys. pCPU worker threads run the guests and own their own link connections to the card.
// When a card process dies the host and its guests stay up and every connection comes back with backoff.
// With --embedded-card the card runs in a worker thread of this process, reached over shared-memory rings.
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../common/ts-worker.ts';
import { intFlag, oneOf, parse, UsageError } from './args.ts';
import { capacityFlags } from './capacity-flags.ts';
import { createRootLogger, isLogLevel } from '../common/log.ts';
import { connectLink } from '../devices/pcie/link/socket-transport.ts';
import { createShmLinkPair, openShmLink, shmTransferList } from '../devices/pcie/link/shm-transport.ts';
import type { LinkPeer } from '../devices/pcie/link/peer.ts';
import { PcpuPool, type WorkerLink } from '../hypervisor/pcpu-pool.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { serveManagementChannel } from '../hypervisor/mgmt-channel.ts';
import { LegacyDevices } from '../hypervisor/legacy-devices.ts';
import { hostTelemetry } from '../hypervisor/telemetry.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import { withBackoff } from '../host/reconnect.ts';

export async function runHost(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    card: { type: 'string' },
    'embedded-card': { type: 'boolean' },
    'data-dir': { type: 'string' },
    'host-id': { type: 'string' },
    mode: { type: 'string' },
    pcpus: { type: 'string' },
    'guest-mem-mib': { type: 'string' },
    blockstore: { type: 'string' },
    'host-mem-mib': { type: 'string' },
    'card-vcpus': { type: 'string' },
    'card-mem-mib': { type: 'string' },
    'shutdown-grace-ms': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.card === undefined && !values['embedded-card']) throw new UsageError('give --card <unix-path|host:port> or --embedded-card');
  const level = values['log-level'];
  if (level !== undefined && !isLogLevel(level)) throw new UsageError(`--log-level ${level} is not a pino level`);
  const hostId = values['host-id'] ?? 'host-0';
  const mode = oneOf('mode', values.mode, ['offload', 'legacy'] as const, 'offload');
  const pcpus = intFlag('pcpus', values.pcpus, 2, 1, 64);
  const guestMemMiB = intFlag('guest-mem-mib', values['guest-mem-mib'], 32, 4, 4096);
  const hostMemMiB = intFlag('host-mem-mib', values['host-mem-mib'], 16384, 64, 1 << 20);
  const log = createRootLogger({ name: `host ${hostId}`, ...(level !== undefined && isLogLevel(level) ? { level } : {}) });

  // The management channel's link work is the hypervisor's (telemetry: src/hypervisor/telemetry.ts).
  const mgmtAccount = <T>(work: () => T): T => threadLedger().run('hypervisor', work);
  let mgmt: LinkPeer;
  let links: WorkerLink[];
  let cardWorker: Worker | undefined;
  let ready: Record<string, unknown> = {};
  if (values['embedded-card']) {
    const pairs = Array.from({ length: pcpus + 1 }, () => createShmLinkPair());
    const cardDescs = pairs.map((p) => p.card);
    cardWorker = startTsWorker(new URL('../nitro-card/card-worker.ts', import.meta.url), {
      workerData: { hostId, dataDir: values['data-dir'] ?? '.nitrolab/card', mode, level: level ?? 'info', links: cardDescs, guestMemMiB, blockstore: values.blockstore,
        capacity: capacityFlags(values['card-vcpus'], values['card-mem-mib'], 'card-'),
        shutdownGraceMs: intFlag('shutdown-grace-ms', values['shutdown-grace-ms'], 5000, 0, 600_000) },
      transferList: cardDescs.flatMap(shmTransferList),
      name: 'card',
    });
    ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      cardWorker?.once('message', (m: Record<string, unknown>) => resolve(m));
      cardWorker?.once('error', reject);
      cardWorker?.once('exit', (code) => reject(new Error(`embedded card exited during boot (${code})`)));
    });
    cardWorker.on('exit', (code) => {
      log.fatal({ event: 'card-died', exitCode: code }, `embedded card worker exited (${code})`);
      process.exit(3);
    });
    const [first, ...rest] = pairs;
    if (!first) throw new Error('no shm link pairs');
    mgmt = openShmLink(first.host, { name: 'mgmt', account: mgmtAccount });
    links = rest.map((p) => ({ kind: 'shm' as const, desc: p.host, transfer: shmTransferList(p.host) }));
  } else {
    const address = values.card as string;
    mgmt = await connectLink(address, { name: 'mgmt', account: mgmtAccount });
    links = Array.from({ length: pcpus }, () => ({ kind: 'socket' as const, address }));
  }

  let onConsole: (vmId: string, data: string) => void = () => {};
  let onState: (vmId: string, state: 'booting' | 'running' | 'halted' | 'crashed', reason: string) => void = () => {};
  const pool = new PcpuPool(links, log, {
    console: (vmId, data) => onConsole(vmId, data),
    vmState: (vmId, state, reason) => onState(vmId, state, reason),
  });
  await pool.online();
  const hv = new Hypervisor(pool, log.child({ component: 'hypervisor' }), {
    maxGuestMemBytes: 4096 * 1024 * 1024,
    totalMemBytes: hostMemMiB * 1024 * 1024,
  });
  // Legacy mode: the device models run here, in the hypervisor; the card asks for them over MGMT (create-device).
  const legacy = mode === 'legacy' ? new LegacyDevices(hv, pool, pool.exitPorts(), log.child({ component: 'legacy-devices' })) : undefined;
  hv.statsHook = hostTelemetry({ mode, legacy, cardTid: typeof ready['tid'] === 'number' ? ready['tid'] : undefined });
  let closing = false;
  // Console output while the card is away is held (up to 64 KiB per VM, oldest dropped) and sent once it is back.
  const held = new Map<string, string>();
  const serve = (peer: LinkPeer): void => {
    legacy?.setUplink(peer);
    const channel = serveManagementChannel(peer, legacy ?? hv, log, { pcpus, memBytes: hostMemMiB * 1024 * 1024, vms: hv.helloVms() });
    for (const [vmId, data] of held) channel.console(vmId, data);
    held.clear();
    onConsole = (vmId, data) => {
      if (peer.isUp) { channel.console(vmId, data); return; }
      held.set(vmId, ((held.get(vmId) ?? '') + data).slice(-64 * 1024));
    };
    onState = (vmId, state, reason) => {
      hv.onGuestState(vmId, state);
      channel.vmState(vmId, state, reason);
    };
    peer.on('down', (reason) => {
      if (closing) return;
      if (values['embedded-card']) {
        log.fatal({ event: 'card-link-down', reason }, `the embedded card's management channel went down (${reason}); the host cannot run without its card`);
        process.exit(3);
      }
      // Surprise removal (docs/reliability.md): the VMs keep running; reconnect when the card is back (`up` restarts
      // it on the same address) and say hello again with the VMs we run, so the card can reconcile.
      log.error({ event: 'card-link-down', reason, vms: hv.vms.size }, `the card's management channel went down (${reason}); ${hv.vms.size} VM(s) keep running, reconnecting`);
      void withBackoff(() => connectLink(values.card as string, { name: 'mgmt', account: mgmtAccount }), {
        stopped: () => closing,
        onRetry: (n, e, delayMs) => { if (n === 1 || n % 10 === 0) log.info({ event: 'card-reconnect-retry', attempt: n, delayMs, err: e.message }, `card not reachable yet (${e.message}); retry ${n} in ${delayMs} ms`); },
      }).then((next) => {
        if (next === undefined) return;
        log.warn({ event: 'card-link-up', vms: hv.vms.size }, `the card's management channel is back; announced ${hv.vms.size} VM(s)`);
        serve(next);
      });
    });
  };
  serve(mgmt);
  const stop = async () => {
    closing = true;
    await pool.close();
    await cardWorker?.terminate();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  log.info({ event: 'host-ready', hostId, pcpus, mode, link: values['embedded-card'] ? 'shm' : 'socket' }, `host ${hostId} ready with ${pcpus} pCPU threads`);
  if (process.send) process.send({ type: 'ready', ...ready });
  await new Promise<never>(() => {});
  return 0;
}

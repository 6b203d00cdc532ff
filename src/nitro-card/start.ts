// Card start-up, the same for a card process (socket link) and an embedded card worker (shm link): the security chip
// verifies and measures the firmware (refusing to boot otherwise), then the card serves its PCIe link and its
// authenticated management API.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import { CardPort } from '../devices/pcie/link/card-port.ts';
import type { LinkPeer } from '../devices/pcie/link/peer.ts';
import { DEFAULT_FIRMWARE_DIR, DEV_ROOT_PUBLIC_KEY, FirmwareError } from './boot/firmware.ts';
import { resolveBootFirmware } from './boot/update.ts';
import { verifyAndMeasure, type BootMeasurement } from './boot/security-chip.ts';
import { createAttestation } from './boot/attestation.ts';
import { CardService, type CardBoot } from './card-service.ts';
import { accountedFabric, CardTelemetry } from './telemetry.ts';
export { cardLinkAccount } from './telemetry.ts';
import { metricsMgmtRoutes } from './metrics-routes.ts';
import { IoTracer } from '../telemetry/io-trace.ts';
import { buildMgmtApi } from './mgmt-api.ts';
import { CardMetrics } from './metrics.ts';
import { ensureCardToken, TOKEN_FILE } from './token.ts';
import { GeneveUnderlay, type UnderlayAddr } from './vpc/geneve.ts';
import { vpcMgmtRoutes } from './vpc/mgmt-routes.ts';
import { ImdsService } from './vpc/imds.ts';
import { imdsInstanceOf, imdsMgmtRoutes } from './vpc/imds-routes.ts';
import { GATEWAY_MAC } from './vpc/dataplane.ts';
import { ebsMgmtRoutes } from './ebs/mgmt-routes.ts';
import { lifecycleMgmtRoutes } from './lifecycle-routes.ts';

export interface StartCardOptions {
  hostId: string;
  dataDir: string;
  mode: 'offload' | 'legacy';
  link: 'socket' | 'shm';
  mgmtHost: string;
  mgmtPort: number;
  firmwareDir?: string | undefined;
  rootKey?: string | undefined;
  guestMemBytes: number;
  capacity: { vcpus: number; memMiB: number };
  log: Logger;
  /** Block store base URL for EBS volumes (`nbd://host:port`, `nbd+unix:///?socket=…`); absent = sparse files. */
  blockstore?: string | undefined;
  /** Where the Geneve underlay socket binds; default a random 127.a.b.c on UDP 6081 (vpc/geneve.ts). */
  underlay?: Partial<UnderlayAddr> | undefined;
  /** Grace period of an orderly guest shutdown before a stop is forced (default 5000 ms). */
  shutdownGraceMs?: number | undefined;
}

export interface RunningCard {
  readonly mgmtUrl: string;
  readonly tokenPath: string;
  readonly card: CardService;
  readonly port: CardPort;
  readonly boot: BootMeasurement;
  /** Serve one link connection (a hypervisor management channel or a pCPU's link). */
  attach(peer: LinkPeer): void;
  close(): Promise<void>;
}

/** Security-chip boot: pick the image (staged update, current, rollback or built-in), verify it and measure it. */
export function secureBoot(o: Pick<StartCardOptions, 'dataDir' | 'firmwareDir' | 'rootKey' | 'mode' | 'link' | 'log'>): BootMeasurement {
  const rootKey = o.rootKey ?? DEV_ROOT_PUBLIC_KEY;
  const firmwareDir = o.firmwareDir ?? DEFAULT_FIRMWARE_DIR;
  // An explicit --firmware DIR is booted as given (how a student tries their own or a tampered image); otherwise the
  // staged/current/rollback slots in the card's data dir are considered first.
  const dir = o.firmwareDir !== undefined ? firmwareDir : resolveBootFirmware(o.dataDir, firmwareDir, rootKey).firmwareDir;
  const boot = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: rootKey, runtimeConfig: { mode: o.mode, link: o.link }, cardDataDir: o.dataDir });
  for (const m of boot.measurements) {
    o.log.info({ event: 'measured', pcr: m.pcr, stage: m.event, detail: m.detail, digest: m.digest }, `PCR${m.pcr} ← ${m.event}: ${m.detail}`);
  }
  o.log.info({ event: 'secure-boot-ok', firmware: boot.firmware, dir }, `firmware ${boot.firmware.name} ${boot.firmware.version} verified`);
  return boot;
}

export async function startCard(o: StartCardOptions): Promise<RunningCard> {
  mkdirSync(o.dataDir, { recursive: true });
  let boot: BootMeasurement;
  try {
    boot = secureBoot(o);
  } catch (e) {
    if (e instanceof FirmwareError) {
      o.log.fatal({ event: 'secure-boot-refused', check: e.check }, `card refuses to boot: ${e.message} (check: ${e.check})`);
    }
    throw e;
  }
  const metrics = new CardMetrics();
  const port = new CardPort({ log: o.log.child({ component: 'link' }), metrics: metrics.scoped('link') });
  // One I/O in every 64 doorbells is traced for the panel's timeline (offload: here; legacy: in the hypervisor).
  const tracer = new IoTracer({ mode: o.mode });
  const card = new CardService({
    hostId: o.hostId,
    dataDir: o.dataDir,
    mode: o.mode,
    link: o.link,
    capacity: o.capacity,
    guestMemBytes: o.guestMemBytes,
    blockstore: o.blockstore,
    firmware: { version: boot.firmware.version, sha256: boot.firmware.sha256, name: boot.firmware.name, signer: boot.firmware.signer },
    boot: countBoot(o.dataDir),
    ...(o.shutdownGraceMs !== undefined ? { shutdownGraceMs: o.shutdownGraceMs } : {}),
    log: o.log.child({ component: 'card' }),
    metrics,
    trace: tracer.port,
  }, accountedFabric(port));
  const identity = boot.identity;
  if (identity) {
    card.attestationProvider = (nonce) => createAttestation({
      nonce, pcrs: boot.pcrs, eventLog: boot.measurements, firmware: boot.firmware,
      cardPublicKey: identity.publicKey, signingKey: identity.privateKey, hostId: o.hostId,
    });
  }
  let hypervisorPeer: LinkPeer | undefined;
  // Legacy mode's NIC ports: frames only from the hypervisor's own connection.
  port.onNetFrame = (fn, frame, peer) => peer === hypervisorPeer && card.netFromHost(fn, frame);
  port.onMgmtEvent = (ev, peer) => {
    if (ev.event === 'hello') {
      hypervisorPeer = peer;
      o.log.info({ event: 'hypervisor-connected', pcpus: ev.pcpus }, `hypervisor connected (${ev.pcpus} pCPUs)`);
      card.setHypervisor(port.mgmtChannel(peer, 30_000));
      if (ev.vms !== undefined) card.reconcile(ev.vms); // after a card or host restart (recovery.ts)
      peer.on('down', (reason) => {
        o.log.error({ event: 'hypervisor-disconnected', reason }, `hypervisor management channel down: ${reason}`);
        card.setHypervisor(undefined);
      });
      return;
    }
    card.onEvent(ev);
  };
  // Instances journalled before a crash come back with their functions before any link connection is served.
  const restored = await card.restore();
  if (restored > 0) o.log.warn({ event: 'card-restored', instances: restored }, `card restarted: ${restored} instance record(s) restored`);
  const underlay = await GeneveUnderlay.bind((d, from) => card.vpc.fromUnderlay(d, from), o.underlay);
  card.vpc.setUnderlay(underlay);
  const imds = new ImdsService({
    gatewayMac: GATEWAY_MAC, signingKey: identity?.privateKey, log: o.log.child({ component: 'imds' }), metrics: metrics.scoped('imds'),
    lookup: (id) => { const inst = card.get(id); return inst && imdsInstanceOf(inst); },
  });
  card.vpc.addLinkLocal(imds); // IMDS at 169.254.169.254:80 (docs/vpc.md)
  o.log.info({ event: 'vpc-underlay', ...underlay.local }, `Geneve underlay on udp ${underlay.local.address}:${underlay.local.port}`);
  const token = ensureCardToken(o.dataDir);
  const api = await buildMgmtApi(card, token, o.log, [ebsMgmtRoutes(card, o.log.child({ component: 'ebs' })), vpcMgmtRoutes(card.vpc, o.dataDir), lifecycleMgmtRoutes(card), imdsMgmtRoutes(card, imds, identity?.publicKey)]);
  const telemetry = new CardTelemetry({ hostId: o.hostId, mode: o.mode, link: o.link, card, tracer, log: o.log.child({ component: 'telemetry' }), ownsProcess: o.link === 'socket' });
  await api.register(metricsMgmtRoutes(telemetry));
  await api.listen({ host: o.mgmtHost, port: o.mgmtPort });
  telemetry.start();
  const addr = api.server.address();
  const mgmtUrl = typeof addr === 'object' && addr ? `http://${o.mgmtHost}:${addr.port}` : `http://${o.mgmtHost}:${o.mgmtPort}`;
  o.log.info({ event: 'card-ready', mgmtUrl }, `card ${o.hostId} management API on ${mgmtUrl}`);
  return {
    mgmtUrl,
    tokenPath: join(o.dataDir, TOKEN_FILE),
    card,
    port,
    boot,
    attach: (peer) => port.attach(peer),
    async close() {
      telemetry.stop();
      await api.close();
      await card.close();
      await underlay.close();
      port.close();
    },
  };
}

/** This card's boot number since its data dir was made (kept in <data-dir>/boots.json) and the time: a restart shows
 *  as a higher count in GET /mgmt/v1/card, GET /v1/hosts and the panel. */
function countBoot(dataDir: string): CardBoot {
  const file = join(dataDir, 'boots.json');
  let count = 0;
  try { count = Number((JSON.parse(readFileSync(file, 'utf8')) as { count?: unknown }).count) || 0; } catch { count = 0; }
  const boot = { count: count + 1, at: new Date().toISOString() };
  writeFileSync(file, JSON.stringify(boot) + '\n');
  return boot;
}

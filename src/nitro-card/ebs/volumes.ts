// The card's EBS volumes: each volume's backend (an NBD client to the block store export named by the volume id, or
// a sparse file in the card's data dir when the card has no block store), its IOPS/throughput limits (throttle.ts),
// and where the guest sees it: NSID 1 of its own NVMe controller when attached at launch, or a namespace hot-plugged
// onto the instance's first EBS controller (NSID 2…) with a Namespace Attribute Changed AEN (docs/block-store.md
// "Hot-plug"). The block store connection reconnects on its own with backoff; requests in the gap fail with
// Internal Error (retryable), never hang.
import { join } from 'node:path';
import type { Logger } from '../../common/log.ts';
import { realClock } from '../../common/clock.ts';
import type { Clock } from '../../devices/contract.ts';
import type { BlockBackend } from '../../devices/nvme/backend.ts';
import { BackendError } from '../../devices/nvme/backend.ts';
import type { NvmeController } from '../../devices/nvme/index.ts';
import { FileBackend } from './file-backend.ts';
import { NbdClient } from './nbd-client.ts';
import { formatNbdUrl, parseNbdUrl } from './nbd-url.ts';
import { ThrottledBackend, limitsFor, type ThrottleSnapshot } from './throttle.ts';
import type { CardMetrics } from '../metrics.ts';
import { CardError } from '../mgmt-api.ts';

export interface EbsVolumeSpec {
  volumeId: string;
  sizeBytes: number;
  deviceName: string;
  /** Provisioned limits; absent = gp3 baseline (3000 IOPS, 125 MiB/s). 0 = unlimited. */
  iops?: number | undefined;
  throughputMiBps?: number | undefined;
}

export interface EbsVolumesOptions {
  dataDir: string;
  /** Block store base URL (`nbd://host:port` or `nbd+unix:///?socket=…`); absent = sparse files on the card. */
  blockstore?: string | undefined;
  log: Logger;
  metrics: CardMetrics;
  clock?: Clock;
  /** NBD per-request timeout (default 30 s). */
  nbdTimeoutMs?: number;
}

/** Highest NSID on an instance's first EBS controller: 1 launch volume + up to 15 hot-plugged ones. */
export const EBS_HOTPLUG_NN = 16;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

interface Placed {
  spec: EbsVolumeSpec;
  fn: number;
  nsid: number;
  nvme: NvmeController;
  backend: ThrottledBackend;
  hotplugged: boolean;
  url: string | null;
}

export interface EbsVolumeView {
  volumeId: string;
  deviceName: string;
  fn: number;
  nsid: number;
  sizeBytes: number;
  hotplugged: boolean;
  backend: 'nbd' | 'file';
  nbdUrl?: string;
  throttle: ThrottleSnapshot;
}

/**
 * The export URL for a volume: the base URL's export name, with `{volumeId}` substituted; an empty export name
 * (`nbd://host:port`) means "the export named by the volume id".
 */
export function exportUrlFor(base: string, volumeId: string): string {
  const t = parseNbdUrl(base);
  const exportName = t.exportName === '' ? volumeId : t.exportName.replaceAll('{volumeId}', volumeId);
  return formatNbdUrl({ ...t, exportName });
}

/** A volume's export on the block store, reconnecting on its own with backoff when the connection drops (requests in
 *  the gap fail with a retryable status, never hang). Used by the card's EBS path, and by the hypervisor for a legacy
 *  NVMe model, so both modes reach the same data the same way. */
export async function openExport(url: string, volumeId: string, o: { log: Logger; metrics: CardMetrics; clock: Clock; timeoutMs: number }): Promise<NbdClient> {
  const vlog = o.log.child({ volumeId });
  let client: NbdClient | undefined;
  let closed = false;
  let delay = RECONNECT_MIN_MS;
  const retry = (reason: string): void => {
    if (closed || client === undefined) return;
    vlog.warn({ event: 'ebs.blockstore-disconnected', url, reason, retryMs: delay }, `block store connection for ${volumeId} lost: ${reason}`);
    o.metrics.inc('ebs.blockstore_disconnects');
    const c = client;
    o.clock.setTimer(delay, () => {
      if (closed) return;
      c.reconnect().then(() => {
        delay = RECONNECT_MIN_MS;
        vlog.info({ event: 'ebs.blockstore-reconnected', url }, `block store connection for ${volumeId} restored`);
      }, (e: unknown) => {
        if (closed) return;
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
        vlog.warn({ event: 'ebs.blockstore-reconnect-failed', url, err: (e as Error).message, retryMs: delay }, 'reconnect failed');
        retry('reconnect failed');
      });
    });
  };
  try {
    client = await NbdClient.connect(url, { log: vlog, timeoutMs: o.timeoutMs, onDisconnect: retry });
  } catch (e) {
    o.metrics.inc('ebs.blockstore_connect_failed');
    vlog.error({ event: 'ebs.blockstore-connect-failed', url, err: (e as Error).message }, `cannot open ${volumeId} on the block store`);
    const msg = e instanceof BackendError ? e.message : String(e);
    throw new CardError('BlockStoreUnavailable', 503, `volume ${volumeId}: ${msg}`);
  }
  const c = client;
  const close = c.close.bind(c);
  return Object.assign(c, { close: async () => { closed = true; await close(); } });
}

export class EbsVolumes {
  private readonly byInstance = new Map<string, Map<string, Placed>>();
  /** The controller hot-plugged volumes go on: the instance's first EBS function. */
  private readonly hotplugTarget = new Map<string, { fn: number; nvme: NvmeController }>();
  private readonly clock: Clock;

  constructor(private readonly opts: EbsVolumesOptions) {
    this.clock = opts.clock ?? realClock;
  }

  get blockstore(): string | undefined { return this.opts.blockstore; }

  /** Open a volume's storage behind its throttle. Throws CardError 503 when the block store cannot be reached. */
  async open(spec: EbsVolumeSpec, log: Logger): Promise<{ backend: ThrottledBackend; url: string | null }> {
    const metrics = this.opts.metrics.scoped(`ebs.${spec.volumeId}`);
    let inner: BlockBackend;
    let url: string | null = null;
    if (this.opts.blockstore === undefined) {
      inner = await FileBackend.open(join(this.opts.dataDir, 'volumes', `${spec.volumeId}.img`), { sizeBytes: spec.sizeBytes });
    } else {
      url = exportUrlFor(this.opts.blockstore, spec.volumeId);
      inner = await this.connect(url, spec.volumeId, log);
    }
    if (inner.sizeBytes % 512 !== 0) {
      await inner.close();
      throw new CardError('InvalidVolume', 409, `volume ${spec.volumeId} is ${inner.sizeBytes} bytes, not a multiple of 512`);
    }
    return { backend: new ThrottledBackend(inner, limitsFor(spec), this.clock, metrics), url };
  }

  private connect(url: string, volumeId: string, log: Logger): Promise<NbdClient> {
    return openExport(url, volumeId, { log, metrics: this.opts.metrics, clock: this.clock, timeoutMs: this.opts.nbdTimeoutMs ?? 30_000 });
  }

  /** A volume attached at launch as NSID 1 of its own controller `fn`; the first one also takes hot-plugs. */
  placed(instanceId: string, spec: EbsVolumeSpec, fn: number, nvme: NvmeController, backend: ThrottledBackend, url: string | null): void {
    const ns = nvme.namespaces.get(1);
    if (ns !== undefined) backend.attachStats(ns.stats);
    this.volumesOf(instanceId).set(spec.volumeId, { spec, fn, nsid: 1, nvme, backend, hotplugged: false, url });
    if (!this.hotplugTarget.has(instanceId)) this.hotplugTarget.set(instanceId, { fn, nvme });
  }

  /** Hot-plug: a new namespace on the instance's first EBS controller; the guest is told by an AEN. */
  async attach(instanceId: string, spec: EbsVolumeSpec, log: Logger): Promise<{ fn: number; nsid: number }> {
    const vols = this.volumesOf(instanceId);
    if (vols.has(spec.volumeId)) throw new CardError('VolumeInUse', 409, `volume ${spec.volumeId} is already attached to ${instanceId}`);
    for (const v of vols.values()) {
      if (v.spec.deviceName === spec.deviceName) throw new CardError('InvalidParameter', 400, `device name ${spec.deviceName} is taken by ${v.spec.volumeId}`);
    }
    const target = this.hotplugTarget.get(instanceId);
    if (target === undefined) {
      throw new CardError('NoHotplugController', 409, `instance ${instanceId} has no EBS NVMe controller to hot-plug into (launch it with at least one volume)`);
    }
    const nsid = this.freeNsid(target.nvme);
    if (nsid === undefined) throw new CardError('AttachmentLimitExceeded', 409, `instance ${instanceId} has ${target.nvme.info.nn} volumes on its hot-plug controller already`);
    const { backend, url } = await this.open(spec, log);
    try {
      const ns = target.nvme.attachNamespace(nsid, backend, 512);
      backend.attachStats(ns.stats);
    } catch (e) {
      await backend.close();
      throw e;
    }
    vols.set(spec.volumeId, { spec, fn: target.fn, nsid, nvme: target.nvme, backend, hotplugged: true, url });
    this.opts.metrics.inc('ebs.hotplug_attach');
    log.info({ event: 'ebs.volume-attached', volumeId: spec.volumeId, fn: target.fn, nsid, deviceName: spec.deviceName }, `hot-plugged ${spec.volumeId} as fn ${target.fn} nsid ${nsid}`);
    return { fn: target.fn, nsid };
  }

  /** Detach: the namespace goes at once (new commands get Invalid Namespace), the volume closes after its I/O. */
  async detach(instanceId: string, volumeId: string, log: Logger): Promise<void> {
    const vols = this.volumesOf(instanceId);
    const v = vols.get(volumeId);
    if (v === undefined) throw new CardError('VolumeNotAttached', 404, `volume ${volumeId} is not attached to ${instanceId}`);
    vols.delete(volumeId);
    if (v.nvme.namespaces.get(v.nsid)?.backend === v.backend) v.nvme.detachNamespace(v.nsid);
    await v.backend.close();
    this.opts.metrics.inc('ebs.hotplug_detach');
    log.info({ event: 'ebs.volume-detached', volumeId, fn: v.fn, nsid: v.nsid }, `detached ${volumeId} (fn ${v.fn} nsid ${v.nsid})`);
  }

  list(instanceId: string): EbsVolumeView[] {
    return [...(this.byInstance.get(instanceId)?.values() ?? [])].map((v) => ({
      volumeId: v.spec.volumeId, deviceName: v.spec.deviceName, fn: v.fn, nsid: v.nsid, sizeBytes: v.backend.sizeBytes,
      hotplugged: v.hotplugged, backend: v.url === null ? 'file' as const : 'nbd' as const,
      ...(v.url !== null ? { nbdUrl: v.url } : {}), throttle: v.backend.snapshot(),
    }));
  }

  /** The instance is gone: close every volume still open (launch volumes are closed by their functions too). */
  async closeInstance(instanceId: string): Promise<void> {
    const vols = this.byInstance.get(instanceId);
    this.byInstance.delete(instanceId);
    this.hotplugTarget.delete(instanceId);
    for (const v of vols?.values() ?? []) await v.backend.close().catch(() => {});
  }

  private volumesOf(instanceId: string): Map<string, Placed> {
    let m = this.byInstance.get(instanceId);
    if (m === undefined) this.byInstance.set(instanceId, (m = new Map()));
    return m;
  }

  private freeNsid(nvme: NvmeController): number | undefined {
    for (let n = 1; n <= nvme.info.nn; n++) if (!nvme.namespaces.has(n)) return n;
    return undefined;
  }
}

// The virtio-net PCI function (virtio 1.2 §5.1; specs.md §3.1, §3.10): identity, BARs and vendor capabilities for the
// PCI function model, device config (mac, status, mtu), and the rx (0) / tx (1) queue engines. The VPC backend behind
// it is an interface: frames go out through `backend.transmit`, come in through `receive`.
import type { BarDecl, BarRegion, DeviceContext, PciDeviceModel, PciIdentity } from '../contract.ts';
import { viewOf } from '../layout.ts';
import { VirtioNetMetrics } from './metrics.ts';
import type { Virtqueue } from './queue.ts';
import {
  bit, FeatureBit, MsixBar, Bar4, NetConfig, NetFeatureBit, NetFeatureDeps, NetHdr, NetStatus, VirtioNetIdentity,
} from './regs.ts';
import { placePacket } from './rx.ts';
import { VirtioPciTransport, type VirtioDevice } from './transport.ts';
import { MAX_FRAME, readTxFrame, type TxOutcome } from './tx.ts';

interface RxItem { readonly frame: Uint8Array; resolve(delivered: boolean): void }

/** The VPC side of the card, as this device sees it. */
export interface NetBackend {
  /** One Ethernet frame (no FCS) the guest sent; the backend owns the array. */
  transmit(frame: Uint8Array): void;
}

export interface VirtioNetOptions {
  ctx: DeviceContext;
  backend: NetBackend;
  /** "52:54:00:12:34:56" or 6 bytes. */
  mac: string | Uint8Array;
  /** If given (68…65535), VIRTIO_NET_F_MTU is offered with this value. */
  mtu?: number;
  /** Maximum size of each queue (power of two, ≤ 32768). Default 256. */
  queueSize?: number;
  /** Link state at power-on. Default up. */
  linkUp?: boolean;
}

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** Chains taken per tx batch, and frames placed per rx batch (each batch costs a few link round trips). */
export const TX_BATCH = 64;
export const RX_BATCH = 256;
/** MSI-X vectors: one for config changes and one per queue. */
export const NET_MSIX_VECTORS = 3;

/** What the device offers (VERSION_1 is added by the transport); MTU only when configured. */
export const NET_FEATURES = [
  bit(FeatureBit.VERSION_1), bit(FeatureBit.RING_EVENT_IDX), bit(FeatureBit.RING_INDIRECT_DESC),
  bit(NetFeatureBit.MAC), bit(NetFeatureBit.STATUS), bit(NetFeatureBit.MRG_RXBUF),
  bit(NetFeatureBit.CSUM), bit(NetFeatureBit.GUEST_CSUM),
].reduce((a, b) => a | b, 0n);

export function parseMac(mac: string | Uint8Array): Uint8Array {
  const bytes = typeof mac === 'string' ? Uint8Array.from(mac.split(':'), (h) => (/^[0-9a-fA-F]{2}$/.test(h) ? parseInt(h, 16) : NaN)) : mac;
  if (bytes.length !== 6 || bytes.some((b) => !Number.isInteger(b))) throw new RangeError(`MAC ${String(mac)} is not 6 bytes`);
  return Uint8Array.from(bytes);
}

const zeroRegion: BarRegion = { read: () => 0, write: () => {} };

export class VirtioNet implements PciDeviceModel, VirtioDevice {
  readonly identity: PciIdentity = {
    vendorId: VirtioNetIdentity.VENDOR_ID,
    deviceId: VirtioNetIdentity.DEVICE_ID,
    subsystemVendorId: VirtioNetIdentity.SUBSYSTEM_VENDOR_ID,
    subsystemId: VirtioNetIdentity.SUBSYSTEM_ID,
    revisionId: VirtioNetIdentity.REVISION,
    classCode: VirtioNetIdentity.CLASS_ETHERNET,
  };
  readonly bars: readonly BarDecl[];
  readonly msixVectors = NET_MSIX_VECTORS;
  readonly msixBar = MsixBar.INDEX;
  readonly msixTableOffset = MsixBar.TABLE_OFFSET;
  readonly extraCapabilities: readonly Uint8Array[];
  readonly offeredFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = NetConfig.size;
  readonly transport: VirtioPciTransport;
  readonly metrics: VirtioNetMetrics;

  private readonly ctx: DeviceContext;
  private readonly backend: NetBackend;
  private readonly config = new Uint8Array(NetConfig.size);
  private rxq: Virtqueue | null = null;
  private txq: Virtqueue | null = null;
  private mergeable = false;
  private csum = false;
  private txBusy = false;
  private txAgain = false;
  private rxBusy = false;
  private readonly rxPending: RxItem[] = [];
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(opts: VirtioNetOptions) {
    this.ctx = opts.ctx;
    this.backend = opts.backend;
    this.metrics = new VirtioNetMetrics(opts.ctx.metrics);
    const size = opts.queueSize ?? 256;
    if (!(size >= 1 && size <= 32768 && (size & (size - 1)) === 0)) throw new RangeError(`queue size ${size} is not a power of two ≤ 32768`);
    this.queueMaxSizes = [size, size];
    const c = NetConfig.offset;
    this.config.set(parseMac(opts.mac), c.mac);
    const v = viewOf(this.config);
    v.setUint16(c.status, opts.linkUp === false ? 0 : NetStatus.LINK_UP, true);
    v.setUint16(c.max_virtqueue_pairs, 1, true);
    let features = NET_FEATURES;
    if (opts.mtu !== undefined) {
      if (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535) throw new RangeError(`MTU ${opts.mtu} out of range 68..65535`);
      v.setUint16(c.mtu, opts.mtu, true);
      features |= bit(NetFeatureBit.MTU);
    }
    this.offeredFeatures = features;
    this.transport = new VirtioPciTransport({ ctx: opts.ctx, device: this, metrics: this.metrics, msixVectors: NET_MSIX_VECTORS });
    this.extraCapabilities = this.transport.capabilities();
    this.bars = [
      { index: MsixBar.INDEX, size: MsixBar.SIZE, is64: false, prefetchable: false, region: zeroRegion },
      { index: Bar4.INDEX, size: Bar4.SIZE, is64: true, prefetchable: true, region: this.transport.region },
    ];
  }

  get linkUp(): boolean { return (viewOf(this.config).getUint16(NetConfig.offset.status, true) & NetStatus.LINK_UP) !== 0; }

  /** Change the link state: the status field, config_generation and a config-change interrupt follow. */
  setLinkUp(up: boolean): void {
    if (up === this.linkUp) return;
    viewOf(this.config).setUint16(NetConfig.offset.status, up ? NetStatus.LINK_UP : 0, true);
    this.ctx.log.info({ event: up ? 'virtio-net-link-up' : 'virtio-net-link-down' });
    this.transport.configChanged();
  }

  /**
   * A frame from the backend for the guest. Resolves true once it is in the rx ring (and interrupted per EVENT_IDX),
   * false if dropped (not live, link down, no buffers posted, too large). Frames are delivered in call order.
   */
  receive(frame: Uint8Array): Promise<boolean> {
    const p = new Promise<boolean>((resolve) => this.rxPending.push({ frame, resolve }));
    if (!this.rxBusy) {
      this.rxBusy = true;
      this.track(this.runRx());
    }
    return this.track(p);
  }

  /** Resolves when no tx or rx work is in flight (tests and orderly shutdown). */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  // PciDeviceModel

  /** FLR or link-down: the transport and the device back to power-on values. */
  reset(): void { this.transport.reset(); }

  busMasterChanged(enabled: boolean): void {
    this.transport.setBusMaster(enabled);
    if (enabled && this.txq) this.kickTx();
  }

  // VirtioDevice

  readConfig(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | (this.config[offset + i] ?? 0);
    return v >>> 0;
  }

  writeConfig(offset: number, size: 1 | 2 | 4): void {
    this.transport.driverError('net-config-read-only', { offset, size });
  }

  /** Driver-accepted virtio-net features must bring what they depend on (at least one of each listed set). */
  checkFeatures(accepted: bigint): string | undefined {
    for (const [f, needs] of NetFeatureDeps) {
      if ((accepted & bit(f)) !== 0n && !needs.some((n) => (accepted & bit(n)) !== 0n)) return `feature ${f} needs one of ${needs.join(',')}`;
    }
    return undefined;
  }

  activate(queues: readonly (Virtqueue | null)[], features: bigint): void {
    this.rxq = queues[RX_QUEUE] ?? null;
    this.txq = queues[TX_QUEUE] ?? null;
    this.mergeable = (features & bit(NetFeatureBit.MRG_RXBUF)) !== 0n;
    this.csum = (features & bit(NetFeatureBit.CSUM)) !== 0n;
    // Buffers made available before DRIVER_OK are picked up now (the driver may not kick again).
    if (this.txq) this.kickTx();
  }

  queueNotify(index: number): void {
    if (index === TX_QUEUE) this.kickTx();
    // An rx kick means buffers were posted; frames arrive through receive(), so there is nothing to resume.
  }

  deactivate(): void {
    this.rxq = null;
    this.txq = null;
    this.txAgain = false;
  }

  // Engines

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  private kickTx(): void {
    const q = this.txq;
    if (!q) return;
    if (this.txBusy) { this.txAgain = true; return; }
    this.txBusy = true;
    this.track(this.runTx(q).finally(() => {
      this.txBusy = false;
      // A kick arrived while the run was winding down (after its last look at avail.idx, before this callback), or
      // for a newer queue after a reset: either way it must not be lost.
      if (this.txAgain && this.txq) this.kickTx();
    }));
  }

  private async runTx(q: Virtqueue): Promise<void> {
    try {
      do {
        this.txAgain = false;
        await this.drainTx(q);
      } while (this.txAgain && q.alive);
    } catch (err) {
      if (q.alive) this.transport.fail(err, TX_QUEUE);
    }
  }

  /**
   * Send every available chain, return the buffers, interrupt if asked, then re-arm the kick and look again. Chains
   * are taken in batches of up to TX_BATCH whose descriptor walks and frame reads all run concurrently (a handful of
   * link round trips per batch, not per frame), and each batch's used entries are flushed (and interrupted, per
   * EVENT_IDX) before the next; the frames go to the backend in ring order, one after another
   * in one synchronous run, so a receiver on the same card sees them as one batch too. A malformed chain still stops
   * the queue after the chains before it were sent, as a chain-at-a-time walk would.
   */
  private async drainTx(q: Virtqueue): Promise<void> {
    for (;;) {
      for (;;) {
        const batch = await q.popChains(TX_BATCH);
        if (batch.length === 0) break;
        const reads = batch.map((c) => c.then(async (chain) => ({ chain, out: await readTxFrame(q, chain, this.csum) })));
        const settled = await Promise.allSettled(reads);
        for (const r of settled) {
          if (r.status === 'rejected') throw r.reason;
          this.txOne(q, r.value.chain.head, r.value.out);
        }
        // Return each batch's buffers at once, so the driver refills the ring while the next batch is read.
        if (await q.flushUsed()) this.transport.signalQueue(TX_QUEUE);
        if (batch.length < TX_BATCH) break; // all there was: enableNotification looks again, a round trip saved
      }
      if (!(await q.enableNotification())) return;
    }
  }

  private txOne(q: Virtqueue, head: number, out: TxOutcome): void {
    q.addUsed(head, 0);
    if (out.kind === 'drop') {
      this.ctx.log.debug({ event: 'virtio-net-tx-drop', reason: out.reason, head });
      this.metrics.txDrop(out.reason);
      return;
    }
    try {
      this.backend.transmit(out.frame);
      this.metrics.txPacket(out.frame.length);
    } catch (err) {
      this.ctx.log.error({ event: 'virtio-net-backend-error', err: String(err) });
      this.metrics.txDrop('backend-error');
    }
  }

  private async runRx(): Promise<void> {
    await Promise.resolve(); // frames handed over in the same synchronous run (a tx batch on this card) join one batch
    try {
      while (this.rxPending.length > 0) await this.deliverBatch(this.rxPending.splice(0, RX_BATCH));
    } finally {
      this.rxBusy = false;
    }
  }

  private rxDrop(item: RxItem, reason: string): void {
    this.ctx.log.debug({ event: 'virtio-net-rx-drop', reason, len: item.frame.length });
    this.metrics.rxDrop(reason);
    item.resolve(false);
  }

  /**
   * Place a batch of frames: the rx chains for all of them are fetched at once (Virtqueue.prefetch: one avail read,
   * concurrent descriptor walks), the data writes are posted, and the used ring is flushed — with at most one
   * interrupt, per EVENT_IDX — once for the batch. A frame's promise resolves after that flush, as before; on a ring
   * error the frames placed before it are flushed first, as frame-at-a-time delivery would have done.
   */
  private async deliverBatch(batch: RxItem[]): Promise<void> {
    const q0 = this.rxq;
    if (q0 && this.transport.canDma && this.linkUp) await q0.prefetch(batch.length).catch(() => {}); // errors resurface per frame
    const placed: RxItem[] = [];
    let placedOn: Virtqueue | undefined; // the queue `placed` went into (a reset mid-batch brings a new one)
    const flush = async (): Promise<void> => {
      const q = placedOn;
      if (placed.length === 0 || !q) return;
      const items = placed.splice(0);
      try {
        if (await q.flushUsed()) this.transport.signalQueue(RX_QUEUE);
      } catch (err) {
        if (q.alive) this.transport.fail(err, RX_QUEUE);
        for (const it of items) this.rxDrop(it, 'ring-error');
        return;
      }
      for (const it of items) {
        this.metrics.rxPacket(it.frame.length);
        it.resolve(true);
      }
    };
    for (const item of batch) {
      const q = this.rxq;
      const { frame } = item;
      if (!q || !this.transport.canDma) { this.rxDrop(item, 'not-ready'); continue; }
      if (!this.linkUp) { this.rxDrop(item, 'link-down'); continue; }
      if (frame.length === 0 || frame.length > MAX_FRAME) { this.rxDrop(item, 'bad-length'); continue; }
      const packet = new Uint8Array(NetHdr.size + frame.length);
      packet.set(frame, NetHdr.size); // flags 0, gso NONE: the driver checks the checksum itself
      try {
        const out = await placePacket(q, packet, this.mergeable);
        if (out.kind === 'drop') {
          if (out.reason === 'no-buffers') await q.enableNotification();
          this.rxDrop(item, out.reason);
          continue;
        }
        if (placedOn !== q) await flush();
        placedOn = q;
        placed.push(item);
      } catch (err) {
        await flush();
        if (q.alive) this.transport.fail(err, RX_QUEUE);
        this.rxDrop(item, 'ring-error');
      }
    }
    q0?.dropAhead();
    await flush();
  }
}

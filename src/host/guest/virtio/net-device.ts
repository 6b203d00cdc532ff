// One virtio-net function driven like Linux's drivers/net/virtio_net.c (virtio 1.2 §5.1; specs.md §3.5, §3.10): the
// normative init sequence and feature negotiation, receiveq1/transmitq1 with their own MSI-X vectors and the config
// vector, mergeable rx buffers, tx with the 12-byte header (NEEDS_CSUM offload), link status, and DEVICE_NEEDS_RESET
// answered by logging and re-initialising the device. A misbehaving device never throws into the kernel.
import {
  bit, FeatureBit, NetConfig, NetFeatureBit, NetHdr, NetHdrFlags, NetStatus, Status,
} from '../../../devices/virtio-net/regs.ts';
import { viewOf } from '../../../devices/layout.ts';
import { PAGE_SIZE, type DmaBuffer } from '../page-alloc.ts';
import { bdf, type PciDevice } from '../pci.ts';
import type { DriverInstance, KernelServices } from '../services.ts';
import { newDeviceStats, type NetDevice, type NetDeviceHandle, type NetDeviceRegistry, type TxChecksum } from '../net/netdev.ts';
import { VirtioPciRegs } from './common.ts';
import { readVirtioCaps } from './pci-caps.ts';
import { SplitVirtqueue } from './virtqueue.ts';

export interface VirtioNetOptions {
  /** Largest ring the driver asks for (the device's queue_size caps it). */
  readonly maxQueueSize: number;
  /** Bytes per rx buffer (one page holds PAGE_SIZE / this). Must hold 12 + 1514 without MRG_RXBUF. */
  readonly rxBufferSize: number;
  /** How long a reset (status reads 0) may take. */
  readonly resetTimeoutMs: number;
}

export const DEFAULT_VIRTIO_NET_OPTIONS: VirtioNetOptions = { maxQueueSize: 256, rxBufferSize: 2048, resetTimeoutMs: 1000 };

/** What the driver accepts if offered (VERSION_1 is required). */
export const DRIVER_FEATURES = [
  bit(FeatureBit.VERSION_1), bit(FeatureBit.RING_EVENT_IDX), bit(FeatureBit.RING_INDIRECT_DESC),
  bit(NetFeatureBit.MAC), bit(NetFeatureBit.STATUS), bit(NetFeatureBit.MRG_RXBUF),
  bit(NetFeatureBit.CSUM), bit(NetFeatureBit.GUEST_CSUM), bit(NetFeatureBit.MTU),
].reduce((a, b) => a | b, 0n);

export const RXQ = 0;
export const TXQ = 1;
/** MSI-X entries: config, receiveq1, transmitq1 (as Linux's vp_find_vqs_msix assigns them). */
const ENTRY = { CONFIG: 0, RX: 1, TX: 2 } as const;
const MTU_DEFAULT = 1500;
const ETH_MAX = 1514;

export class VirtioInitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VirtioInitError';
  }
}

export type VirtioNetState = 'new' | 'live' | 'resetting' | 'failed' | 'shutdown';

interface RxBuf { readonly gpa: number; readonly bytes: Uint8Array }

export class VirtioNetDevice implements NetDevice, DriverInstance {
  readonly name: string;
  readonly driver = 'virtio_net';
  readonly dev: PciDevice;
  readonly opts: VirtioNetOptions;
  readonly stats = newDeviceStats();
  /** Driver counters beyond the netdev ones (ethtool -S style). */
  readonly vstats = {
    kicks: 0, kicksSuppressed: 0, rxIrqs: 0, txIrqs: 0, configIrqs: 0, resets: 0, rxMergedPackets: 0,
    rxBadHeader: 0, deviceErrors: 0,
  };
  state: VirtioNetState = 'new';
  mac: Uint8Array = new Uint8Array(6);
  mtu = MTU_DEFAULT;
  linkUp = false;
  offered = 0n;
  negotiated = 0n;
  private readonly k: KernelServices;
  private readonly registry: NetDeviceRegistry;
  private handle: NetDeviceHandle | undefined;
  private regs: VirtioPciRegs | undefined;
  private vectors: number[] = [];
  private rxq: SplitVirtqueue<RxBuf> | undefined;
  private txq: SplitVirtqueue<number> | undefined;
  private rxNotify = 0;
  private txNotify = 0;
  private rxPool: DmaBuffer[] = [];
  private rxBufs: RxBuf[] = [];
  private txPool: DmaBuffer | undefined;
  private txFreeSlots: number[] = [];
  /** Senders waiting for ring space (whenTxReady). */
  private txWaiters: (() => void)[] = [];
  private txSlotSize = 2048;
  private mergeable = false;
  private reinit: Promise<void> | undefined;

  constructor(k: KernelServices, registry: NetDeviceRegistry, dev: PciDevice, instance: number, opts: Partial<VirtioNetOptions> = {}) {
    this.k = k;
    this.registry = registry;
    this.dev = dev;
    this.name = `eth${instance}`;
    this.opts = { ...DEFAULT_VIRTIO_NET_OPTIONS, ...opts };
  }

  get txChecksumOffload(): boolean { return this.has(NetFeatureBit.CSUM); }
  has(featureBit: number): boolean { return (this.negotiated & bit(featureBit)) !== 0n; }

  private log(level: 'err' | 'warn' | 'info', text: string): void {
    this.k.log.log(level, `virtio_net ${bdf(this.dev.slot)} ${this.name}: ${text}`);
  }

  // ---- probe and init --------------------------------------------------------------------------------------------

  /** Discover, negotiate, set up queues and vectors, go live and register eth<N> with the stack. */
  async probe(): Promise<void> {
    try {
      if (!this.dev.msix) throw new VirtioInitError('no MSI-X capability');
      const caps = await readVirtioCaps(this.k.pci, this.dev);
      this.regs = new VirtioPciRegs(this.k.platform, this.dev.slot, caps);
      this.vectors = this.k.irqs.allocate(3, this.name);
      this.k.irqs.setHandler(this.vectors[ENTRY.CONFIG]!, () => this.onConfigIrq());
      this.k.irqs.setHandler(this.vectors[ENTRY.RX]!, () => this.onRxIrq());
      this.k.irqs.setHandler(this.vectors[ENTRY.TX]!, () => this.onTxIrq());
      await this.k.pci.enableMsix(this.dev, this.vectors);
      this.allocBuffers();
      await this.init();
      this.handle = this.registry.registerDevice(this);
    } catch (err) {
      this.state = 'failed';
      this.log('err', `probe failed: ${err instanceof Error ? err.message : String(err)}`);
      await this.teardown();
      throw err;
    }
  }

  private allocBuffers(): void {
    const per = Math.max(1, Math.floor(PAGE_SIZE / this.opts.rxBufferSize));
    const n = this.opts.maxQueueSize;
    for (let i = 0; i < n; i += per) {
      const page = this.k.pages.alloc(1);
      this.rxPool.push(page);
      for (let j = 0; j < per && i + j < n; j++) {
        const off = j * this.opts.rxBufferSize;
        this.rxBufs.push({ gpa: page.gpa + off, bytes: page.bytes.subarray(off, off + this.opts.rxBufferSize) });
      }
    }
    this.txPool = this.k.pages.allocBytes(n * this.txSlotSize);
  }

  private async waitReset(r: VirtioPciRegs): Promise<void> {
    r.setStatus(0);
    const p = this.k.platform;
    const deadline = p.nowNs() + BigInt(this.opts.resetTimeoutMs) * 1_000_000n;
    for (;;) {
      const s = await r.status();
      if (s === 0) return;
      if (s === 0xff) throw new VirtioInitError('device not present (status reads 0xff)');
      if (p.nowNs() > deadline) throw new VirtioInitError(`reset did not complete, device_status=0x${s.toString(16)}`);
      await p.sleep(1);
    }
  }

  /** The normative sequence (§3.5): reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK re-read, queues, DRIVER_OK. */
  private async init(): Promise<void> {
    const r = this.regs!;
    await this.waitReset(r);
    r.setStatus(Status.ACKNOWLEDGE);
    r.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
    this.offered = await r.deviceFeatures();
    if ((this.offered & bit(FeatureBit.VERSION_1)) === 0n) {
      r.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FAILED);
      throw new VirtioInitError('device does not offer VIRTIO_F_VERSION_1 (legacy devices are not supported)');
    }
    this.negotiated = this.offered & DRIVER_FEATURES;
    r.writeDriverFeatures(this.negotiated);
    r.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    if (((await r.status()) & Status.FEATURES_OK) === 0) {
      r.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FAILED);
      throw new VirtioInitError(`device refused features 0x${this.negotiated.toString(16)} (FEATURES_OK did not stick)`);
    }
    this.mergeable = this.has(NetFeatureBit.MRG_RXBUF);
    if (!this.mergeable && this.opts.rxBufferSize < NetHdr.size + ETH_MAX) {
      throw new VirtioInitError(`rx buffers of ${this.opts.rxBufferSize} bytes need MRG_RXBUF`);
    }
    await this.readConfig();
    if (!(await r.mapVector('config_msix_vector', ENTRY.CONFIG))) throw new VirtioInitError('config MSI-X vector refused');
    const numQueues = await r.read('num_queues');
    if (numQueues < 2) throw new VirtioInitError(`device has ${numQueues} queues, need receiveq1 and transmitq1`);
    const eventIdx = this.has(FeatureBit.RING_EVENT_IDX);
    const indirect = this.has(FeatureBit.RING_INDIRECT_DESC);
    const setup = async <T>(index: number, entry: number): Promise<{ q: SplitVirtqueue<T>; notify: number }> => {
      r.write('queue_select', index);
      const max = await r.read('queue_size');
      if (max === 0) throw new VirtioInitError(`queue ${index} does not exist`);
      let size = 1;
      while (size * 2 <= Math.min(max, this.opts.maxQueueSize)) size *= 2;
      const q = new SplitVirtqueue<T>(this.k.pages, { index, size, eventIdx, indirect });
      r.write('queue_size', size);
      r.write64('queue_desc', q.descGpa);
      r.write64('queue_driver', q.availGpa);
      r.write64('queue_device', q.usedGpa);
      if (!(await r.mapVector('queue_msix_vector', entry))) {
        q.release(this.k.pages);
        throw new VirtioInitError(`queue ${index} MSI-X vector refused`);
      }
      const notifyOff = await r.read('queue_notify_off');
      r.write('queue_enable', 1);
      return { q, notify: r.notifyOffset(notifyOff) };
    };
    const rx = await setup<RxBuf>(RXQ, ENTRY.RX);
    this.rxq = rx.q;
    this.rxNotify = rx.notify;
    const tx = await setup<number>(TXQ, ENTRY.TX);
    this.txq = tx.q;
    this.txNotify = tx.notify;
    this.txFreeSlots = Array.from({ length: tx.q.size }, (_, i) => tx.q.size - 1 - i);
    for (const b of this.rxBufs.slice(0, rx.q.size)) this.postRx(b);
    this.txq.disableCb(); // tx completions are reaped on the next transmit (free_old_xmit); the vector stays mapped
    r.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    this.state = 'live';
    this.kick(RXQ);
    this.log('info', `mac ${macText(this.mac)}, mtu ${this.mtu}, link ${this.linkUp ? 'up' : 'down'}, queues ${rx.q.size}/${tx.q.size}, features 0x${this.negotiated.toString(16)}`);
  }

  private async readConfig(): Promise<void> {
    const r = this.regs!;
    if (this.has(NetFeatureBit.MAC)) this.mac = await r.readDeviceConfig(NetConfig.offset.mac, 6);
    else if (this.mac.every((b) => b === 0)) {
      this.mac = Uint8Array.from([0x02, ...Array.from({ length: 5 }, () => Math.floor(Math.random() * 256))]);
      this.log('warn', `no MAC feature, using random ${macText(this.mac)}`);
    }
    this.linkUp = this.has(NetFeatureBit.STATUS) ? ((await r.readDeviceConfig16(NetConfig.offset.status)) & NetStatus.LINK_UP) !== 0 : true;
    if (this.has(NetFeatureBit.MTU)) {
      const mtu = await r.readDeviceConfig16(NetConfig.offset.mtu);
      this.mtu = Math.min(MTU_DEFAULT, Math.max(68, mtu));
    }
  }

  // ---- rx --------------------------------------------------------------------------------------------------------

  private postRx(b: RxBuf): boolean {
    return this.rxq?.add([{ addr: b.gpa, len: b.bytes.length, write: true }], b) ?? false;
  }

  private kick(queue: number): void {
    const q = queue === RXQ ? this.rxq : this.txq;
    if (!q || !this.regs || this.state !== 'live') return;
    if (q.kickPrepare()) {
      this.vstats.kicks++;
      this.regs.notify(queue === RXQ ? this.rxNotify : this.txNotify, queue);
    } else {
      this.vstats.kicksSuppressed++;
    }
  }

  private onRxIrq(): void {
    this.vstats.rxIrqs++;
    if (this.state !== 'live') return;
    try {
      this.pollRx();
    } catch (err) {
      this.deviceError(`rx: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Drain the used ring (NAPI poll), repost buffers, re-enable the interrupt and poll again if the device raced us. */
  private pollRx(): void {
    const q = this.rxq;
    if (!q) return;
    do {
      q.disableCb();
      for (let u = q.getUsed(); u; u = q.getUsed()) this.receiveOne(q, u.token, u.len);
    } while (!q.enableCb());
    this.kick(RXQ);
  }

  private receiveOne(q: SplitVirtqueue<RxBuf>, first: RxBuf, len: number): void {
    const bufs: { b: RxBuf; len: number }[] = [{ b: first, len }];
    const repost = (): void => { for (const x of bufs) this.postRx(x.b); };
    if (len < NetHdr.size || len > first.bytes.length) {
      this.vstats.rxBadHeader++;
      this.stats.rxErrors++;
      repost();
      return;
    }
    const hv = viewOf(first.bytes);
    const numBuffers = this.mergeable ? hv.getUint16(NetHdr.offset.num_buffers, true) : 1;
    const flags = hv.getUint8(NetHdr.offset.flags);
    if (numBuffers < 1 || numBuffers > q.size) {
      this.vstats.rxBadHeader++;
      this.stats.rxErrors++;
      repost();
      return;
    }
    for (let i = 1; i < numBuffers; i++) {
      const u = q.getUsed();
      if (!u) { // the device published fewer buffers than num_buffers says
        this.vstats.rxBadHeader++;
        this.stats.rxErrors++;
        repost();
        return;
      }
      bufs.push({ b: u.token, len: Math.min(u.len, u.token.bytes.length) });
    }
    if (numBuffers > 1) this.vstats.rxMergedPackets++;
    const total = bufs.reduce((n, x) => n + x.len, 0) - NetHdr.size;
    const frame = new Uint8Array(total);
    let at = 0;
    bufs.forEach((x, i) => {
      const part = x.b.bytes.subarray(i === 0 ? NetHdr.size : 0, x.len);
      frame.set(part, at);
      at += part.length;
    });
    repost();
    if (total === 0) {
      this.stats.rxErrors++;
      return;
    }
    this.stats.rxPackets++;
    this.stats.rxBytes += total;
    this.handle?.receive(frame, (flags & NetHdrFlags.DATA_VALID) !== 0 && this.has(NetFeatureBit.GUEST_CSUM));
  }

  // ---- tx --------------------------------------------------------------------------------------------------------

  /** Return finished tx slots (free_old_xmit). */
  private reapTx(): void {
    const q = this.txq;
    if (!q) return;
    for (let u = q.getUsed(); u; u = q.getUsed()) this.txFreeSlots.push(u.token);
  }

  /**
   * The queue is stopped (ring full): ask for a tx interrupt at the device's next used-ring flush and resolve when
   * slots come back (netif_wake_queue), or at once if they already have. Tx interrupts stay off otherwise.
   */
  whenTxReady(): Promise<void> {
    const q = this.txq;
    if (this.state !== 'live' || !q) return Promise.resolve();
    this.reapTx();
    if (this.txFreeSlots.length > 0 && q.numFree >= 1) return Promise.resolve();
    const p = new Promise<void>((r) => this.txWaiters.push(r));
    if (!q.enableCb()) this.wakeTx(); // completions arrived between the reap and re-arming the interrupt
    return p;
  }

  private wakeTx(): void {
    this.reapTx();
    if (this.txFreeSlots.length === 0 && this.state === 'live') return;
    this.txq?.disableCb();
    for (const r of this.txWaiters.splice(0)) r();
  }

  transmit(frame: Uint8Array, csum?: TxChecksum): boolean {
    const q = this.txq;
    const pool = this.txPool;
    if (this.state !== 'live' || !q || !pool || !this.linkUp) {
      this.stats.txDropped++;
      return false;
    }
    if (frame.length > this.txSlotSize - 16 || frame.length < 14) {
      this.stats.txDropped++;
      return false;
    }
    try {
      this.reapTx();
    } catch (err) {
      this.deviceError(`tx: ${err instanceof Error ? err.message : String(err)}`);
      this.stats.txDropped++;
      return false;
    }
    const slot = this.txFreeSlots.pop();
    if (slot === undefined || q.numFree < 1) {
      if (slot !== undefined) this.txFreeSlots.push(slot);
      this.stats.txBusy++;
      this.stats.txDropped++;
      return false;
    }
    const base = slot * this.txSlotSize;
    const bytes = pool.bytes.subarray(base, base + this.txSlotSize);
    bytes.fill(0, 0, NetHdr.size);
    const hv = viewOf(bytes);
    if (csum && this.txChecksumOffload) {
      hv.setUint8(NetHdr.offset.flags, NetHdrFlags.NEEDS_CSUM);
      hv.setUint16(NetHdr.offset.csum_start, csum.start, true);
      hv.setUint16(NetHdr.offset.csum_offset, csum.offset, true);
    }
    // The header right in front of the frame, one descriptor (Linux's can_push: with VERSION_1 any layout is
    // allowed): the device reads a descriptor and one buffer per frame, no indirect table and no second segment.
    bytes.set(frame, NetHdr.size);
    q.add([{ addr: pool.gpa + base, len: NetHdr.size + frame.length, write: false }], slot);
    this.stats.txPackets++;
    this.stats.txBytes += frame.length;
    this.kick(TXQ);
    return true;
  }

  private onTxIrq(): void {
    this.vstats.txIrqs++;
    if (this.state !== 'live') return;
    try {
      this.wakeTx();
    } catch (err) {
      this.deviceError(`tx: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // ---- config changes and resets ---------------------------------------------------------------------------------

  private onConfigIrq(): void {
    this.vstats.configIrqs++;
    void this.configChanged().catch((err) => this.log('err', `config change: ${String(err)}`));
  }

  private async configChanged(): Promise<void> {
    const r = this.regs;
    if (!r || this.state !== 'live') return;
    const status = await r.status();
    if (status & Status.DEVICE_NEEDS_RESET) {
      this.log('warn', `device needs reset (device_status=0x${status.toString(16)}), resetting`);
      await this.reset();
      return;
    }
    const was = this.linkUp;
    await this.readConfig();
    if (was !== this.linkUp) {
      this.log('info', `link is ${this.linkUp ? 'up' : 'down'}`);
      this.handle?.linkChanged();
    }
  }

  /** The device did something impossible (bad used id, bad lengths): log, count, reset. */
  private deviceError(text: string): void {
    this.vstats.deviceErrors++;
    this.log('err', `${text}; resetting the device`);
    void this.reset();
  }

  /** Reset and re-initialise: frames in flight are lost (counted), the rings are rebuilt. Never throws. */
  reset(): Promise<void> {
    this.reinit ??= (async () => {
      this.state = 'resetting';
      this.vstats.resets++;
      try {
        this.dropQueues();
        await this.init();
        this.handle?.linkChanged();
      } catch (err) {
        this.state = 'failed';
        this.log('err', `re-initialisation failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.reinit = undefined;
      }
    })();
    return this.reinit;
  }

  private dropQueues(): void {
    for (const r of this.txWaiters.splice(0)) r();
    // Writing 0 stops the device's queues (§3.5: after a reset it must not touch them), so the ring pages can go back
    // to the allocator; init() then waits for the reset to complete before building new rings.
    const old = [this.rxq, this.txq];
    if (this.txq) this.stats.txDropped += this.txq.inFlight;
    this.rxq = undefined;
    this.txq = undefined;
    const pages = this.k.pages;
    const regs = this.regs;
    if (!regs) return;
    regs.setStatus(0);
    for (const q of old) q?.release(pages);
  }

  async shutdown(): Promise<void> {
    if (this.state === 'shutdown') return;
    this.state = 'shutdown';
    try {
      if (this.regs) await this.waitReset(this.regs);
    } catch (err) {
      this.log('warn', `shutdown: ${String(err)}`);
    }
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    for (const r of this.txWaiters.splice(0)) r();
    try {
      if (this.vectors.length > 0 && this.dev.msix) await this.k.pci.disableMsix(this.dev);
    } catch { /* device gone */ }
    this.k.irqs.free(this.vectors);
    this.vectors = [];
    for (const q of [this.rxq, this.txq]) q?.release(this.k.pages);
    this.rxq = undefined;
    this.txq = undefined;
    for (const p of this.rxPool) this.k.pages.release(p);
    this.rxPool = [];
    this.rxBufs = [];
    if (this.txPool) this.k.pages.release(this.txPool);
    this.txPool = undefined;
    this.linkUp = false;
    this.handle?.linkChanged();
  }

  extraStats(): Readonly<Record<string, number>> {
    return { ...this.vstats, rxRingFree: this.rxq?.numFree ?? 0, txRingFree: this.txq?.numFree ?? 0 };
  }
}

export function macText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

// A minimal virtio-pci modern driver over the link (virtio 1.2 §3.1, §4.1; specs.md §3.2–§3.5): the vendor
// capabilities parsed from config space, the common config block by field name (production layout, regs.ts), the
// status/feature handshake, split queues in the suite's guest RAM (GuestVirtq) and notifications. Used-ring progress
// is found by polling guest RAM, so a card whose MSI-X is broken still gets its ring cases run.
import { CapId, walkCapabilities } from '../devices/pcie/capabilities.ts';
import type { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { viewOf } from '../devices/layout.ts';
import {
  bit, CfgType, CommonCfg, FeatureBit, NetHdr, Status, VIRTIO_MSI_NO_VECTOR, VirtioPciCap, VirtioPciNotifyCap,
  type CommonCfgField,
} from '../devices/virtio-net/regs.ts';
import { FnHost } from './fn-host.ts';
import { Failure, hex } from './types.ts';
import { GuestVirtq } from './virtq.ts';
import { pollUntil } from './wait.ts';

/** One `virtio_pci_cap` as found in config space. */
export interface VirtioCap { at: number; capLen: number; type: number; bar: number; offset: number; length: number }

export interface VirtioLayout {
  caps: VirtioCap[];
  common: VirtioCap;
  notify: VirtioCap;
  notifyOffMultiplier: number;
  isr: VirtioCap;
  device: VirtioCap | undefined;
}

/** Where the suite puts each queue's rings and buffers (inside the mapped window). */
const QUEUE_BASE = 0x100000;
const QUEUE_STRIDE = 0x40000;
const DATA_OFFSET = 0x10000;
const DATA_BYTES = 0x30000;
/** Queue size the suite asks for (drivers may lower queue_size; a power of two). */
export const SUITE_QUEUE_SIZE = 16;

export const RXQ = 0;
export const TXQ = 1;

/** Parse the vendor capabilities; undefined entries when a type is missing. */
export function parseVirtioCaps(cfg: Uint8Array): { caps: VirtioCap[]; notifyOffMultiplier: number } {
  const v = viewOf(cfg);
  const O = VirtioPciCap.offset;
  const caps: VirtioCap[] = [];
  let notifyOffMultiplier = 0;
  for (const c of walkCapabilities((o) => cfg[o] ?? 0)) {
    if (c.id !== CapId.VENDOR) continue;
    const cap: VirtioCap = {
      at: c.offset, capLen: cfg[c.offset + O.cap_len] ?? 0, type: cfg[c.offset + O.cfg_type] ?? 0, bar: cfg[c.offset + O.bar] ?? 0,
      offset: v.getUint32(c.offset + O.offset, true), length: v.getUint32(c.offset + O.length, true),
    };
    if (cap.type === CfgType.NOTIFY && notifyOffMultiplier === 0 && cap.at + VirtioPciNotifyCap.size <= cfg.length) {
      notifyOffMultiplier = v.getUint32(c.offset + VirtioPciNotifyCap.offset.notify_off_multiplier, true);
    }
    caps.push(cap);
  }
  return { caps, notifyOffMultiplier };
}

const width = (f: CommonCfgField): 1 | 2 | 4 => {
  const n = CommonCfg.sizeOf[f];
  return n === 8 ? 4 : (n as 1 | 2 | 4);
};

export class VirtioHost extends FnHost {
  layout!: VirtioLayout;

  static async attach(rc: RootComplex, fn: number, timeoutMs: number): Promise<VirtioHost> {
    const h = new VirtioHost(rc, fn, timeoutMs);
    await h.bindWindow();
    const cfg = new Uint8Array(256);
    for (let o = 0; o < 256; o += 4) viewOf(cfg).setUint32(o, await rc.configRead(fn, o, 4), true);
    const { caps, notifyOffMultiplier } = parseVirtioCaps(cfg);
    const first = (t: number): VirtioCap | undefined => caps.find((c) => c.type === t && c.bar <= 5);
    const common = first(CfgType.COMMON);
    const notify = first(CfgType.NOTIFY);
    const isr = first(CfgType.ISR);
    if (!common || !notify || !isr) throw new Failure(`virtio capabilities missing (found cfg_types ${caps.map((c) => c.type).join(',')})`);
    h.layout = { caps, common, notify, notifyOffMultiplier, isr, device: first(CfgType.DEVICE) };
    return h;
  }

  /** Read a common-config field (64-bit fields: the low half; use `half` 1 for the high one). */
  async common(f: CommonCfgField, half = 0): Promise<number> {
    const c = this.layout.common;
    return (await this.rc.barRead(this.fn, c.bar, c.offset + CommonCfg.offset[f] + 4 * half, width(f))) >>> 0;
  }

  setCommon(f: CommonCfgField, value: number): void {
    const c = this.layout.common;
    const at = c.offset + CommonCfg.offset[f];
    if (CommonCfg.sizeOf[f] === 8) {
      this.rc.barWrite(this.fn, c.bar, at, 4, value % 0x1_0000_0000);
      this.rc.barWrite(this.fn, c.bar, at + 4, 4, Math.floor(value / 0x1_0000_0000));
    } else {
      this.rc.barWrite(this.fn, c.bar, at, width(f), value >>> 0);
    }
  }

  status(): Promise<number> { return this.common('device_status'); }
  setStatus(v: number): void { this.setCommon('device_status', v & 0xff); }

  /** Write 0 and wait for the status to read 0 (virtio 1.2 §4.1.4.3.2). */
  async reset(): Promise<boolean> {
    this.setStatus(0);
    return pollUntil(async () => (await this.status()) === 0, this.timeoutMs);
  }

  async offered(): Promise<bigint> {
    this.setCommon('device_feature_select', 0);
    const lo = await this.common('device_feature');
    this.setCommon('device_feature_select', 1);
    const hi = await this.common('device_feature');
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeFeatures(f: bigint): void {
    this.setCommon('driver_feature_select', 0);
    this.setCommon('driver_feature', Number(f & 0xffff_ffffn));
    this.setCommon('driver_feature_select', 1);
    this.setCommon('driver_feature', Number((f >> 32n) & 0xffff_ffffn));
  }

  /**
   * Reset, ACKNOWLEDGE, DRIVER, accept `want` (exactly these bits: the caller decides whether to stay within what is
   * offered), FEATURES_OK; returns whether FEATURES_OK read back.
   */
  async negotiate(want: bigint): Promise<boolean> {
    if (!(await this.reset())) throw new Failure('device_status did not read 0 after writing 0');
    this.setStatus(Status.ACKNOWLEDGE);
    this.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
    this.writeFeatures(want);
    this.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    return ((await this.status()) & Status.FEATURES_OK) !== 0;
  }

  /** Program queue `q` (size SUITE_QUEUE_SIZE, vector or NO_VECTOR) with fresh rings and enable it. */
  async setupQueue(q: number, vector = VIRTIO_MSI_NO_VECTOR): Promise<GuestVirtq> {
    this.setCommon('queue_select', q);
    const max = await this.common('queue_size');
    if (max === 0) throw new Failure(`queue ${q} does not exist (queue_size 0)`);
    const size = Math.min(max, SUITE_QUEUE_SIZE);
    const base = QUEUE_BASE + q * QUEUE_STRIDE;
    const vq = new GuestVirtq(this, base, size, base + DATA_OFFSET, DATA_BYTES);
    this.setCommon('queue_size', size);
    this.setCommon('queue_desc', vq.desc);
    this.setCommon('queue_driver', vq.avail);
    this.setCommon('queue_device', vq.used);
    this.setCommon('queue_msix_vector', vector);
    this.setCommon('queue_enable', 1);
    return vq;
  }

  /**
   * The whole driver sequence: negotiate `features` (intersected with what is offered, VERSION_1 always), set up
   * rx (0) and tx (1) with the given vectors, then DRIVER_OK unless `driverOk` is false.
   */
  async start(o: { features?: bigint; vectors?: [number, number]; driverOk?: boolean } = {}): Promise<{ rx: GuestVirtq; tx: GuestVirtq; features: bigint }> {
    const offered = await this.offered();
    const features = ((o.features ?? 0n) | bit(FeatureBit.VERSION_1)) & offered;
    if (!(await this.negotiate(features))) throw new Failure(`FEATURES_OK refused for offered features ${hex(Number(features & 0xffff_ffffn))}/${hex(Number(features >> 32n))}`);
    const rx = await this.setupQueue(RXQ, o.vectors?.[0]);
    const tx = await this.setupQueue(TXQ, o.vectors?.[1]);
    if (o.driverOk !== false) await this.driverOk();
    return { rx, tx, features };
  }

  async driverOk(): Promise<void> {
    this.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    const s = await this.status();
    if ((s & Status.DRIVER_OK) === 0) throw new Failure(`DRIVER_OK did not read back (status ${hex(s, 2)})`);
  }

  /** Kick queue q at notify.offset + queue_notify_off × multiplier (specs.md §3.4). */
  async notify(q: number): Promise<void> {
    this.setCommon('queue_select', q);
    const off = await this.common('queue_notify_off');
    const n = this.layout.notify;
    this.rc.barWrite(this.fn, n.bar, n.offset + off * this.layout.notifyOffMultiplier, 2, q);
  }

  /** Read device config bytes one at a time. */
  async deviceConfig(off: number, n: number): Promise<Uint8Array> {
    const d = this.layout.device;
    if (d === undefined) throw new Failure('no device configuration capability');
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = await this.rc.barRead(this.fn, d.bar, d.offset + off + i, 1);
    return out;
  }

  /** Wait until used.idx reaches `n` (free-running). */
  waitUsed(vq: GuestVirtq, n: number, ms = this.timeoutMs): Promise<boolean> {
    return pollUntil(() => ((vq.usedIdx - n) & 0x8000) === 0, ms);
  }

  /** A round trip on the link: frames the card sent before its reply (DMA writes, MSI-X) have been seen. */
  async fence(): Promise<void> { await this.rc.ping(); }

  /** Post a tx chain: a zeroed 12-byte virtio_net_hdr_v1, then the frame; kick. */
  async transmit(tx: GuestVirtq, frame: Uint8Array, hdr: Uint8Array = new Uint8Array(NetHdr.size)): Promise<number> {
    const c = tx.post([{ data: hdr }, { data: frame }]);
    await this.notify(TXQ);
    return c.head;
  }
}

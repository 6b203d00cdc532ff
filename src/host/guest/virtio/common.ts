// Register access to a virtio-pci modern function (virtio 1.2 §4.1.4.3–4.1.4.8; specs.md §3.3–3.5): the common config
// block by field name, the device config with the config_generation retry, ISR, and queue notifications.
import { CommonCfg, VIRTIO_MSI_NO_VECTOR, type CommonCfgField } from '../../../devices/virtio-net/regs.ts';
import type { GuestPlatform } from '../platform.ts';
import type { VirtioPciCaps } from './pci-caps.ts';

const C = CommonCfg.offset;
const width = (f: CommonCfgField): 1 | 2 | 4 => {
  const n = CommonCfg.sizeOf[f];
  return n === 8 ? 4 : (n as 1 | 2 | 4);
};

export class VirtioPciRegs {
  constructor(
    private readonly platform: GuestPlatform,
    private readonly slot: number,
    readonly caps: VirtioPciCaps,
  ) {}

  read(f: CommonCfgField): Promise<number> {
    return this.platform.mmioRead(this.slot, this.caps.common.bar, this.caps.common.offset + C[f], width(f));
  }

  write(f: CommonCfgField, value: number): void {
    this.platform.mmioWrite(this.slot, this.caps.common.bar, this.caps.common.offset + C[f], width(f), value >>> 0);
  }

  /** A 64-bit field as two aligned 32-bit writes, low half first (§3.3 access width). */
  write64(f: CommonCfgField, value: number): void {
    const base = this.caps.common.offset + C[f];
    this.platform.mmioWrite(this.slot, this.caps.common.bar, base, 4, value % 0x1_0000_0000);
    this.platform.mmioWrite(this.slot, this.caps.common.bar, base + 4, 4, Math.floor(value / 0x1_0000_0000));
  }

  /** All 64 offered feature bits (device_feature_select 0, then 1). */
  async deviceFeatures(): Promise<bigint> {
    this.write('device_feature_select', 0);
    const lo = await this.read('device_feature');
    this.write('device_feature_select', 1);
    const hi = await this.read('device_feature');
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  writeDriverFeatures(f: bigint): void {
    this.write('driver_feature_select', 0);
    this.write('driver_feature', Number(f & 0xffff_ffffn));
    this.write('driver_feature_select', 1);
    this.write('driver_feature', Number((f >> 32n) & 0xffff_ffffn));
  }

  status(): Promise<number> { return this.read('device_status'); }
  setStatus(v: number): void { this.write('device_status', v & 0xff); }

  /** Write a vector and read it back: NO_VECTOR back means the device refused the mapping. */
  async mapVector(f: 'config_msix_vector' | 'queue_msix_vector', vector: number): Promise<boolean> {
    this.write(f, vector);
    const back = await this.read(f);
    return back === vector && back !== VIRTIO_MSI_NO_VECTOR;
  }

  /** Read `n` bytes of device config with the generation check; retries while config_generation moves. */
  async readDeviceConfig(off: number, n: number, tries = 5): Promise<Uint8Array> {
    const d = this.caps.device;
    const out = new Uint8Array(n);
    if (!d) return out;
    for (let attempt = 0; attempt < tries; attempt++) {
      const before = await this.read('config_generation');
      for (let i = 0; i < n; i++) out[i] = await this.platform.mmioRead(this.slot, d.bar, d.offset + off + i, 1);
      if ((await this.read('config_generation')) === before) return out;
    }
    throw new Error(`device config kept changing (config_generation) over ${tries} reads`);
  }

  async readDeviceConfig16(off: number): Promise<number> {
    const b = await this.readDeviceConfig(off, 2);
    return (b[0] ?? 0) | ((b[1] ?? 0) << 8);
  }

  /** Read and clear the ISR byte (only meaningful without MSI-X; kept for diagnostics). */
  isr(): Promise<number> {
    return this.platform.mmioRead(this.slot, this.caps.isr.bar, this.caps.isr.offset, 1);
  }

  /** Where queue `q` is kicked: notify.offset + queue_notify_off × notify_off_multiplier (§3.4). */
  notifyOffset(queueNotifyOff: number): number {
    return this.caps.notify.offset + queueNotifyOff * this.caps.notifyOffMultiplier;
  }

  notify(offset: number, queue: number): void {
    this.platform.mmioWrite(this.slot, this.caps.notify.bar, offset, 2, queue);
  }
}

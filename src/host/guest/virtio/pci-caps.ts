// virtio-pci modern discovery (virtio 1.2 §4.1.4; specs.md §3.2): walk the vendor capabilities (cap ID 0x09) in config
// space and map COMMON, NOTIFY (with notify_off_multiplier), ISR and DEVICE to a BAR + offset, as Linux's
// virtio_pci_modern_probe does. The first cap of each type wins (the device lists them in order of preference).
import { CfgType, VirtioPciCap, VirtioPciNotifyCap } from '../../../devices/virtio-net/regs.ts';
import { PCI_CAP_ID } from '../pci-regs.ts';
import type { PciBus, PciDevice } from '../pci.ts';

/** One structure inside a BAR. */
export interface VirtioRegion {
  readonly bar: number;
  readonly offset: number;
  readonly length: number;
}

export interface VirtioPciCaps {
  readonly common: VirtioRegion;
  readonly notify: VirtioRegion;
  readonly notifyOffMultiplier: number;
  readonly isr: VirtioRegion;
  /** Absent when the device type has no device config. */
  readonly device: VirtioRegion | undefined;
}

export class VirtioCapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VirtioCapError';
  }
}

/**
 * Read the vendor caps of `dev`. Caps naming a BAR outside 0–5 or one the bus did not assign are skipped (reserved
 * values must be ignored); a missing COMMON, NOTIFY or ISR cap, or a region outside its BAR, is an error.
 */
export async function readVirtioCaps(pci: PciBus, dev: PciDevice): Promise<VirtioPciCaps> {
  const O = VirtioPciCap.offset;
  const found = new Map<number, VirtioRegion & { at: number }>();
  for (const cap of dev.capabilities) {
    if (cap.id !== PCI_CAP_ID.VNDR) continue;
    const len = await pci.readConfig(dev, cap.offset + O.cap_len, 1);
    if (len < VirtioPciCap.size) continue;
    const type = await pci.readConfig(dev, cap.offset + O.cfg_type, 1);
    const bar = await pci.readConfig(dev, cap.offset + O.bar, 1);
    if (bar > 5 || found.has(type)) continue;
    const b = dev.bars.find((x) => x.index === bar);
    if (!b || b.address === 0) continue;
    const offset = await pci.readConfig(dev, cap.offset + O.offset, 4);
    const length = await pci.readConfig(dev, cap.offset + O.length, 4);
    if (type !== CfgType.PCI_CFG && offset + length > b.size) {
      throw new VirtioCapError(`cap type ${type} region 0x${offset.toString(16)}+${length} exceeds BAR ${bar} (${b.size} bytes)`);
    }
    found.set(type, { bar, offset, length, at: cap.offset });
  }
  const need = (type: number, name: string): VirtioRegion & { at: number } => {
    const r = found.get(type);
    if (!r) throw new VirtioCapError(`no ${name} capability`);
    return r;
  };
  const common = need(CfgType.COMMON, 'COMMON_CFG');
  const notify = need(CfgType.NOTIFY, 'NOTIFY_CFG');
  const isr = need(CfgType.ISR, 'ISR_CFG');
  const notifyLen = await pci.readConfig(dev, notify.at + VirtioPciCap.offset.cap_len, 1);
  if (notifyLen < VirtioPciNotifyCap.size) throw new VirtioCapError(`NOTIFY cap is ${notifyLen} bytes, need ${VirtioPciNotifyCap.size}`);
  const notifyOffMultiplier = await pci.readConfig(dev, notify.at + VirtioPciNotifyCap.offset.notify_off_multiplier, 4);
  if (notifyOffMultiplier !== 0 && (notifyOffMultiplier & (notifyOffMultiplier - 1)) !== 0) {
    throw new VirtioCapError(`notify_off_multiplier ${notifyOffMultiplier} is not 0 or a power of two`);
  }
  const strip = ({ bar, offset, length }: VirtioRegion): VirtioRegion => ({ bar, offset, length });
  const device = found.get(CfgType.DEVICE);
  return {
    common: strip(common), notify: strip(notify), notifyOffMultiplier, isr: strip(isr),
    device: device ? strip(device) : undefined,
  };
}

// lspci: one line per function as pciutils prints it; -v adds subsystem, flags, BARs, capabilities and the driver;
// -n / -nn show numeric IDs. Capabilities are read live from config space.
import type { ShellCommand } from '../shell.ts';
import type { GuestKernel } from '../kernel.ts';
import { bdf, type PciDevice } from '../pci.ts';
import { className, deviceName, progIfName, vendorName } from '../pci-ids.ts';
import { MSI_CTRL, MSIX_CTRL, PCI_CAP_ID, PCI_COMMAND, PCI_EXP_FLAGS_OFFSET, PciHeader } from '../pci-regs.ts';
import { humanSize } from './util.ts';

const h4 = (v: number): string => v.toString(16).padStart(4, '0');

function title(d: PciDevice, numeric: 0 | 1 | 2): string {
  const cls = d.classCode >>> 8;
  const ids = `${h4(d.vendorId)}:${h4(d.deviceId)}`;
  const rev = d.revisionId !== 0 ? ` (rev ${d.revisionId.toString(16).padStart(2, '0')})` : '';
  if (numeric === 1) return `${bdf(d.slot)} ${h4(cls)}: ${ids}${rev}`;
  const names = `${className(d.classCode)}${numeric === 2 ? ` [${h4(cls)}]` : ''}: ${vendorName(d.vendorId)} ${deviceName(d.vendorId, d.deviceId)}`;
  return `${bdf(d.slot)} ${names}${numeric === 2 ? ` [${ids}]` : ''}${rev}`;
}

async function capabilityText(k: GuestKernel, d: PciDevice, id: number, off: number): Promise<string> {
  const rd = (o: number, s: 1 | 2 | 4): Promise<number> => k.pci.readConfig(d, off + o, s);
  switch (id) {
    case PCI_CAP_ID.PM: return `Power Management version ${(await rd(2, 2)) & 0x7}`;
    case PCI_CAP_ID.EXP: {
      const flags = await rd(PCI_EXP_FLAGS_OFFSET, 2);
      const type = (flags >>> 4) & 0xf;
      const names: Record<number, string> = { 0: 'Endpoint', 1: 'Legacy Endpoint', 4: 'Root Port', 9: 'Root Complex Integrated Endpoint' };
      return `Express (v${flags & 0xf}) ${names[type] ?? `Unknown type ${type}`}, MSI ${String((flags >>> 9) & 0x1f).padStart(2, '0')}`;
    }
    case PCI_CAP_ID.MSIX: {
      const ctrl = await rd(2, 2);
      return `MSI-X: Enable${ctrl & MSIX_CTRL.ENABLE ? '+' : '-'} Count=${(ctrl & MSIX_CTRL.TABLE_SIZE_MASK) + 1} Masked${ctrl & MSIX_CTRL.FUNCTION_MASK ? '+' : '-'}`;
    }
    case PCI_CAP_ID.MSI: {
      const ctrl = await rd(2, 2);
      const cap = 1 << ((ctrl >>> MSI_CTRL.MMC_SHIFT) & MSI_CTRL.MMC_MASK);
      const en = 1 << ((ctrl >>> 4) & 0x7);
      return `MSI: Enable${ctrl & MSI_CTRL.ENABLE ? '+' : '-'} Count=${en}/${cap} Maskable${ctrl & MSI_CTRL.PVM ? '+' : '-'} 64bit${ctrl & MSI_CTRL.ADDR64 ? '+' : '-'}`;
    }
    case PCI_CAP_ID.VNDR: return `Vendor Specific Information: Len=${(await rd(2, 1)).toString(16).padStart(2, '0')} <?>`;
    default: return `[${id.toString(16).padStart(2, '0')}] <?>`;
  }
}

async function verbose(k: GuestKernel, d: PciDevice): Promise<string> {
  const lines: string[] = [];
  lines.push(`\tSubsystem: ${vendorName(d.subsystemVendorId)} ${deviceName(d.subsystemVendorId, d.subsystemId)}`);
  lines.push(`\tPhysical Slot: ${d.slot}`);
  const cmd = await k.pci.readConfig(d, PciHeader.offset.command, 2);
  const irq = d.msixVectors.length > 0 ? `IRQ ${d.msixVectors[0]}` : 'IRQ 0';
  lines.push(`\tFlags: ${cmd & PCI_COMMAND.MASTER ? 'bus master, ' : ''}fast devsel, latency 0, ${irq}`);
  for (const b of d.bars) {
    if (b.kind === 'io') {
      lines.push(`\tI/O ports at ${b.address.toString(16).padStart(4, '0')} [size=${humanSize(b.size)}]`);
    } else {
      const disabled = cmd & PCI_COMMAND.MEMORY ? '' : ' [disabled]';
      lines.push(`\tMemory at ${b.address.toString(16).padStart(8, '0')} (${b.kind === 'mem64' ? '64-bit' : '32-bit'}, ${b.prefetchable ? 'prefetchable' : 'non-prefetchable'})${disabled} [size=${humanSize(b.size)}]`);
    }
  }
  for (const c of d.capabilities) {
    lines.push(`\tCapabilities: [${c.offset.toString(16)}] ${await capabilityText(k, d, c.id, c.offset)}`);
  }
  if (d.driver) lines.push(`\tKernel driver in use: ${d.driver}`);
  return lines.join('\n');
}

export const lspci: ShellCommand = {
  name: 'lspci',
  summary: 'list PCI devices (-v verbose, -n numeric, -nn both, -k drivers)',
  async run({ args, k, out, err }) {
    let v = false;
    let kd = false;
    let numeric: 0 | 1 | 2 = 0;
    for (const a of args) {
      if (a === '-v' || a === '-vv' || a === '-vvv') v = true;
      else if (a === '-n') numeric = 1;
      else if (a === '-nn') numeric = 2;
      else if (a === '-k') kd = true;
      else { err(`lspci: unknown option ${a}\n`); return 1; }
    }
    for (const d of k.pci.devices) {
      let text = title(d, numeric);
      if (v && d.classCode === 0x010802) text = text.replace(/( \(rev [0-9a-f]+\))?$/u, (r) => `${r} (prog-if ${(d.classCode & 0xff).toString(16).padStart(2, '0')} [${progIfName(d.classCode) ?? ''}])`);
      out(`${text}\n`);
      if (v) out(`${await verbose(k, d)}\n\n`);
      else if (kd && d.driver) out(`\tKernel driver in use: ${d.driver}\n`);
    }
    return 0;
  },
};

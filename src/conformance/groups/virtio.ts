// VIRTIO-PCI-*: what the suite can observe of a virtio 1.x PCI function from config space (virtio 1.2 §4.1;
// specs.md §3.1–§3.3). Skipped when the card exposes no virtio function (ours does not yet).
import { CapId, walkCapabilities } from '../../devices/pcie/capabilities.ts';
import { check, defineGroup, hex } from '../types.ts';
import { readConfig, sizeBars } from './pci-cfg.ts';

const S3 = 'virtio 1.2 §4.1 (specs.md §3.1–§3.3)';

export const VIRTIO_CASES = defineGroup('VIRTIO-PCI', [
  { n: 1, level: 'M', clause: `${S3} PCI Device Discovery`, title: 'a modern virtio function has Device ID 0x1040 + type and Revision ID ≥ 1',
    async run(ctx) {
      const f = ctx.virtioFn();
      const rc = await ctx.io();
      check(f.deviceId >= 0x1041 && f.deviceId <= 0x107f, `device ID ${hex(f.deviceId, 4)}`);
      check((await rc.configRead(f.fn, 8, 1)) >= 1, 'Revision ID 0');
    } },
  { n: 2, level: 'M', clause: `${S3} Virtio Structure PCI Capabilities`, title: 'vendor capabilities for common (1), notify (2), ISR (3) and device (4) configuration are present',
    async run(ctx) {
      const f = ctx.virtioFn();
      const cfg = await readConfig(await ctx.io(), f.fn);
      const types = walkCapabilities((o) => cfg[o] ?? 0).filter((c) => c.id === CapId.VENDOR).map((c) => cfg[c.offset + 3] ?? 0);
      for (const t of [1, 2, 3, 4]) check(types.includes(t), `no virtio_pci_cap with cfg_type ${t} (found ${types.join(',')})`);
    } },
  { n: 3, level: 'M', clause: `${S3} Common configuration structure layout`, title: 'each virtio structure lies inside an implemented BAR with a 4-byte aligned offset',
    async run(ctx) {
      const f = ctx.virtioFn();
      const rc = await ctx.io();
      const cfg = await readConfig(rc, f.fn);
      const v = new DataView(cfg.buffer);
      const bars = await sizeBars(rc, f.fn);
      for (const c of walkCapabilities((o) => cfg[o] ?? 0).filter((x) => x.id === CapId.VENDOR)) {
        const bar = cfg[c.offset + 4] ?? 0;
        const off = v.getUint32(c.offset + 8, true);
        const len = v.getUint32(c.offset + 12, true);
        const b = bars.find((x) => x.index === bar);
        check(b !== undefined, `cfg_type ${cfg[c.offset + 3]} names BAR${bar}, which is not implemented`);
        check(off % 4 === 0 && off + len <= b.size, `cfg_type ${cfg[c.offset + 3]} at ${hex(off)}+${len} in BAR${bar} of ${b.size}`);
      }
    } },
]);

// VIRTIO-PCI-*: the virtio 1.x PCI transport as a host observes it (virtio 1.2 §2.1–§2.4, §3.1, §4.1; specs.md
// §3.1–§3.6): discovery, the vendor capabilities, the common config block, the status/feature handshake, reset and
// MSI-X vector mapping. Skipped when the card exposes no virtio function.
import { CapId, walkCapabilities } from '../../devices/pcie/capabilities.ts';
import { bit, CfgType, FeatureBit, MAX_QUEUE_SIZE, Status, VIRTIO_MSI_NO_VECTOR } from '../../devices/virtio-net/regs.ts';
import { check, defineGroup, hex } from '../types.ts';
import { parseVirtioCaps } from '../virtio-host.ts';
import { pollUntil } from '../wait.ts';
import { readConfig, sizeBars } from './pci-cfg.ts';

const S3 = 'virtio 1.2 §4.1 (specs.md §3.1–§3.3)';
const V = 'virtio 1.2';
const ACK_DRIVER = Status.ACKNOWLEDGE | Status.DRIVER;

export const VIRTIO_PCI_CASES = defineGroup('VIRTIO-PCI', [
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
  { n: 3, level: 'M', clause: `${S3} Common configuration structure layout`, title: 'each virtio structure (common, notify, ISR, device) lies inside an implemented BAR with a 4-byte aligned offset',
    async run(ctx) {
      const f = ctx.virtioFn();
      const rc = await ctx.io();
      const cfg = await readConfig(rc, f.fn);
      const v = new DataView(cfg.buffer);
      const bars = await sizeBars(rc, f.fn);
      // Structures of cfg_type 1–4; the PCI_CFG cap's bar/offset/length select the driver's access window instead.
      const structures = walkCapabilities((o) => cfg[o] ?? 0).filter((x) => x.id === CapId.VENDOR && [1, 2, 3, 4].includes(cfg[x.offset + 3] ?? 0));
      for (const c of structures) {
        const bar = cfg[c.offset + 4] ?? 0;
        const off = v.getUint32(c.offset + 8, true);
        const len = v.getUint32(c.offset + 12, true);
        const b = bars.find((x) => x.index === bar);
        check(b !== undefined, `cfg_type ${cfg[c.offset + 3]} names BAR${bar}, which is not implemented`);
        check(off % 4 === 0 && off + len <= b.size, `cfg_type ${cfg[c.offset + 3]} at ${hex(off)}+${len} in BAR${bar} of ${b.size}`);
      }
    } },
  { n: 4, level: 'M', clause: `${V} §4.1.4.4 Notification structure layout, §4.1.4.3–§4.1.4.6 (specs.md §3.2–§3.4)`, title: 'the common, notify, ISR and device structures are large enough, notify_off_multiplier is 0 or an even power of two, and every queue\'s notify address lies inside the notify structure',
    async run(ctx) {
      const h = await ctx.virtio();
      const { caps, notifyOffMultiplier: m } = parseVirtioCaps(await readConfig(h.rc, h.fn));
      for (const c of caps) check(c.capLen >= 16, `cfg_type ${c.type} cap_len ${c.capLen} < 16`);
      check(h.layout.common.length >= 0x38, `common structure length ${h.layout.common.length} < 0x38`);
      check(h.layout.notify.capLen >= 20, `notify cap_len ${h.layout.notify.capLen} < 20 (no notify_off_multiplier)`);
      check(m === 0 || (m >= 2 && (m & (m - 1)) === 0), `notify_off_multiplier ${m}`);
      check(h.layout.isr.length >= 1, 'ISR structure length 0');
      check(caps.some((c) => c.type === CfgType.PCI_CFG), 'no PCI configuration access capability (cfg_type 5)');
      const n = await h.common('num_queues');
      for (let q = 0; q < n; q++) {
        h.setCommon('queue_select', q);
        const off = await h.common('queue_notify_off');
        check(off * m + 2 <= h.layout.notify.length, `queue ${q}: queue_notify_off ${off} × ${m} + 2 > notify length ${h.layout.notify.length}`);
      }
    } },
  { n: 5, level: 'M', clause: `${V} §2.1 Device Status Field, §3.1.1 Driver Requirements: Device Initialization`, title: 'the status bits a driver sets read back in order: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK',
    async run(ctx) {
      const h = await ctx.virtio();
      check(await h.reset(), 'status did not read 0 after reset');
      h.setStatus(Status.ACKNOWLEDGE);
      check((await h.status()) === Status.ACKNOWLEDGE, `after ACKNOWLEDGE status ${hex(await h.status(), 2)}`);
      h.setStatus(ACK_DRIVER);
      check((await h.status()) === ACK_DRIVER, `after DRIVER status ${hex(await h.status(), 2)}`);
      h.writeFeatures(bit(FeatureBit.VERSION_1));
      h.setStatus(ACK_DRIVER | Status.FEATURES_OK);
      check((await h.status()) === (ACK_DRIVER | Status.FEATURES_OK), `after FEATURES_OK (VERSION_1 only) status ${hex(await h.status(), 2)}`);
      await h.setupQueue(0);
      await h.setupQueue(1);
      await h.driverOk();
      check((await h.status()) === (ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK), `after DRIVER_OK status ${hex(await h.status(), 2)}`);
      check(await h.reset(), 'status did not read 0 after reset');
    } },
  { n: 6, level: 'M', clause: `${V} §2.2.1 Driver/Device Requirements: Feature Bits; §3.1.1 step 5 (FEATURES_OK re-read)`, title: 'FEATURES_OK does not read back when the driver accepts a feature the device did not offer',
    async run(ctx) {
      const h = await ctx.virtio();
      const offered = await h.offered();
      // A transport bit the device does not offer (the device-type bits are also fine, but the transport ones exist for every type).
      const candidates = [FeatureBit.RING_PACKED, FeatureBit.NOTIFICATION_DATA, FeatureBit.RING_RESET, FeatureBit.SR_IOV, 41, 49];
      const b = candidates.find((x) => (offered & bit(x)) === 0n);
      check(b !== undefined, 'the device offers every candidate bit');
      const ok = await h.negotiate(bit(FeatureBit.VERSION_1) | bit(b));
      check(!ok, `FEATURES_OK stuck with feature bit ${b}, which the device did not offer`);
      check(await h.negotiate(bit(FeatureBit.VERSION_1)), 'FEATURES_OK refused for VERSION_1 alone after a reset');
    } },
  { n: 7, level: 'M', clause: `${V} §6.1 Driver/Device Requirements: Reserved Feature Bits (VIRTIO_F_VERSION_1)`, title: 'the device offers VIRTIO_F_VERSION_1 (device_feature_select 1, bit 0)',
    async run(ctx) {
      const h = await ctx.virtio();
      check(await h.reset(), 'status did not read 0 after reset');
      check(((await h.offered()) & bit(FeatureBit.VERSION_1)) !== 0n, 'VERSION_1 not offered');
    } },
  { n: 8, level: 'M', clause: `${V} §2.4 Device Reset; §4.1.4.3.1 Device Requirements: Common configuration structure layout`, title: 'after a reset device_status, queue_enable and the driver features read 0 and every MSI-X vector reads NO_VECTOR',
    async run(ctx) {
      const h = await ctx.virtio();
      await h.start({ vectors: [1, 2] });
      h.setCommon('config_msix_vector', 0);
      check(await h.reset(), 'device_status did not read 0 after writing 0');
      check((await h.common('config_msix_vector')) === VIRTIO_MSI_NO_VECTOR, `config_msix_vector ${hex(await h.common('config_msix_vector'), 4)} after reset`);
      const n = await h.common('num_queues');
      for (let q = 0; q < n; q++) {
        h.setCommon('queue_select', q);
        check((await h.common('queue_enable')) === 0, `queue ${q}: queue_enable reads 1 after reset`);
        check((await h.common('queue_msix_vector')) === VIRTIO_MSI_NO_VECTOR, `queue ${q}: queue_msix_vector ${hex(await h.common('queue_msix_vector'), 4)} after reset`);
      }
      h.setCommon('driver_feature_select', 1);
      check((await h.common('driver_feature')) === 0, 'driver_feature (select 1) not 0 after reset');
    } },
  { n: 9, level: 'M', clause: `${V} §4.1.4.3 Common configuration structure layout (queue_size, num_queues); §2.7 split rings`, title: 'each queue below num_queues reports a queue_size that is a power of two ≤ 32768, and queue_select = num_queues reads queue_size 0',
    async run(ctx) {
      const h = await ctx.virtio();
      check(await h.reset(), 'status did not read 0 after reset');
      const n = await h.common('num_queues');
      check(n >= 1, 'num_queues 0');
      for (let q = 0; q < n; q++) {
        h.setCommon('queue_select', q);
        const s = await h.common('queue_size');
        check(s >= 1 && s <= MAX_QUEUE_SIZE && (s & (s - 1)) === 0, `queue ${q}: queue_size ${s}`);
      }
      h.setCommon('queue_select', n);
      check((await h.common('queue_size')) === 0, `queue_select ${n} (= num_queues) reads queue_size ${await h.common('queue_size')}`);
    } },
  { n: 10, level: 'M', clause: `${V} §4.1.5.1.2 MSI-X Vector Configuration (specs.md §3.4 MSI-X)`, title: 'a vector inside the MSI-X table reads back as written; one beyond it, and NO_VECTOR, read back NO_VECTOR',
    async run(ctx) {
      const h = await ctx.virtio();
      const l = await h.msixLayout();
      check(l !== undefined, 'no MSI-X capability');
      check(await h.reset(), 'status did not read 0 after reset');
      for (const [field, sel] of [['config_msix_vector', undefined], ['queue_msix_vector', 0]] as const) {
        if (sel !== undefined) h.setCommon('queue_select', sel);
        h.setCommon(field, 0);
        check((await h.common(field)) === 0, `${field}: vector 0 reads ${hex(await h.common(field), 4)}`);
        h.setCommon(field, l.size);
        check((await h.common(field)) === VIRTIO_MSI_NO_VECTOR, `${field}: vector ${l.size} (table has ${l.size}) reads ${hex(await h.common(field), 4)}`);
        h.setCommon(field, VIRTIO_MSI_NO_VECTOR);
        check((await h.common(field)) === VIRTIO_MSI_NO_VECTOR, `${field}: NO_VECTOR reads ${hex(await h.common(field), 4)}`);
      }
    } },
  { n: 11, level: 'M', clause: `${V} §4.1.5.1.2.1 Device Requirements: MSI-X Vector Configuration ("must not deliver for NO_VECTOR")`, title: 'a used buffer on a queue mapped to NO_VECTOR sends no MSI-X message; mapped to a vector it sends one with that vector',
    async run(ctx) {
      const h = await ctx.virtio();
      const l = await h.msixLayout();
      check(l !== undefined && l.size >= 3, 'MSI-X table smaller than 3 vectors');
      for (let v = 0; v < 3; v++) h.programVector(l, v, false);
      await h.setMsixControl(l, true, false);
      const { tx } = await h.start({ vectors: [VIRTIO_MSI_NO_VECTOR, VIRTIO_MSI_NO_VECTOR] });
      h.msis.length = 0;
      await h.transmit(tx, new Uint8Array(60));
      check(await h.waitUsed(tx, 1), 'the tx buffer was not used');
      await h.fence();
      check(h.msis.length === 0, `MSI-X sent for a NO_VECTOR queue: ${JSON.stringify(h.msis)}`);
      const again = await h.start({ vectors: [1, 2] });
      h.msis.length = 0;
      await h.transmit(again.tx, new Uint8Array(60));
      check(await h.waitUsed(again.tx, 1), 'the tx buffer was not used');
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'no MSI-X for a used buffer on a mapped queue');
      check(h.msis.every((m) => m.vector === 2), `vectors ${h.msis.map((m) => m.vector).join(',')} (tx queue mapped to 2)`);
      await h.reset();
    } },
  { n: 12, level: 'O', clause: `${V} §4.1.4.5 ISR status capability`, title: 'with MSI-X disabled a used buffer sets ISR bit 0, and reading the ISR clears it',
    async run(ctx) {
      const h = await ctx.virtio();
      const l = await h.msixLayout();
      if (l !== undefined) await h.setMsixControl(l, false, false);
      const { tx } = await h.start();
      const isr = h.layout.isr;
      await h.rc.barRead(h.fn, isr.bar, isr.offset, 1);
      await h.transmit(tx, new Uint8Array(60));
      check(await h.waitUsed(tx, 1), 'the tx buffer was not used');
      await h.fence();
      const first = await h.rc.barRead(h.fn, isr.bar, isr.offset, 1);
      check((first & 1) === 1, `ISR ${hex(first, 2)} after a used buffer`);
      const second = await h.rc.barRead(h.fn, isr.bar, isr.offset, 1);
      check((second & 1) === 0, `ISR ${hex(second, 2)} on the second read`);
      await h.reset();
    } },
]);

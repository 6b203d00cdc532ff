// Layouts against the tables of specs.md §3.2, §3.3, §3.7 and §3.10.
import t from 'tap';
import {
  CommonCfg, NetConfig, NetHdr, VirtioPciCap, VirtioPciCfgCap, VirtioPciNotifyCap, VirtqAvail, VirtqDesc, VirtqUsed,
  VirtqUsedElem, ringSizes, Bar4, MsixBar, VirtioNetIdentity, FeatureBit, NetFeatureBit, bit, Status,
} from '../../../src/devices/virtio-net/regs.ts';

t.test('virtio_pci_cap is 16 bytes with the §3.2 offsets', async (t) => {
  t.equal(VirtioPciCap.size, 16);
  t.same(VirtioPciCap.offset, { cap_vndr: 0, cap_next: 1, cap_len: 2, cfg_type: 3, bar: 4, id: 5, padding: 6, offset: 8, length: 12 });
});

t.test('notify cap is 20 bytes with notify_off_multiplier at +16; cfg cap has pci_cfg_data at +16', async (t) => {
  t.equal(VirtioPciNotifyCap.size, 20);
  t.equal(VirtioPciNotifyCap.offset.notify_off_multiplier, 16);
  t.equal(VirtioPciCfgCap.size, 20);
  t.equal(VirtioPciCfgCap.offset.pci_cfg_data, 16);
});

t.test('common cfg offsets match the §3.3 table', async (t) => {
  t.same(CommonCfg.offset, {
    device_feature_select: 0x00, device_feature: 0x04, driver_feature_select: 0x08, driver_feature: 0x0c,
    config_msix_vector: 0x10, num_queues: 0x12, device_status: 0x14, config_generation: 0x15,
    queue_select: 0x16, queue_size: 0x18, queue_msix_vector: 0x1a, queue_enable: 0x1c, queue_notify_off: 0x1e,
    queue_desc: 0x20, queue_driver: 0x28, queue_device: 0x30, queue_notify_data: 0x38, queue_reset: 0x3a,
  });
  t.equal(CommonCfg.size, 0x3c);
  t.ok(CommonCfg.size >= 0x38, 'at least Linux struct virtio_pci_common_cfg');
});

t.test('virtq desc is 16 bytes; avail and used heads are flags, idx', async (t) => {
  t.equal(VirtqDesc.size, 16);
  t.same(VirtqDesc.offset, { addr: 0, len: 8, flags: 12, next: 14 });
  t.same(VirtqAvail.offset, { flags: 0, idx: 2 });
  t.same(VirtqUsed.offset, { flags: 0, idx: 2 });
  t.equal(VirtqUsedElem.size, 8);
  t.same(VirtqUsedElem.offset, { id: 0, len: 4 });
});

t.test('ring sizes for Q = 256 are 4096, 518 and 2054 bytes (§3.7 example)', async (t) => {
  t.same(ringSizes(256), { desc: 4096, avail: 518, used: 2054 });
});

t.test('virtio_net_hdr_v1 is 12 bytes with num_buffers at 10', async (t) => {
  t.equal(NetHdr.size, 12);
  t.same(NetHdr.offset, { flags: 0, gso_type: 1, hdr_len: 2, gso_size: 4, csum_start: 6, csum_offset: 8, num_buffers: 10 });
});

t.test('virtio_net_config offsets match the §3.10 table', async (t) => {
  t.equal(NetConfig.size, 24);
  t.same(NetConfig.offset, {
    mac: 0, status: 6, max_virtqueue_pairs: 8, mtu: 10, speed: 12, duplex: 16, rss_max_key_size: 17,
    rss_max_indirection_table_length: 18, supported_hash_types: 20,
  });
});

t.test('feature bits, status bits and identity are the spec values', async (t) => {
  t.equal(bit(FeatureBit.VERSION_1), 1n << 32n);
  t.equal(FeatureBit.RING_INDIRECT_DESC, 28);
  t.equal(FeatureBit.RING_EVENT_IDX, 29);
  t.same([NetFeatureBit.CSUM, NetFeatureBit.GUEST_CSUM, NetFeatureBit.MTU, NetFeatureBit.MAC, NetFeatureBit.MRG_RXBUF, NetFeatureBit.STATUS], [0, 1, 3, 5, 15, 16]);
  t.same(Status, { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, DEVICE_NEEDS_RESET: 64, FAILED: 128 });
  t.equal(VirtioNetIdentity.DEVICE_ID, 0x1041);
  t.ok(VirtioNetIdentity.SUBSYSTEM_ID >= 0x40);
  t.ok(VirtioNetIdentity.REVISION >= 1);
});

t.test('BAR4 regions are page-separated and inside the BAR; MSI-X gets its own BAR', async (t) => {
  const starts = [Bar4.COMMON_OFFSET, Bar4.ISR_OFFSET, Bar4.DEVICE_OFFSET, Bar4.NOTIFY_OFFSET];
  t.same(new Set(starts.map((s) => s / Bar4.PAGE)).size, 4);
  for (const s of starts) t.ok(s % 4 === 0 && s + Bar4.PAGE <= Bar4.SIZE);
  t.not(MsixBar.INDEX, Bar4.INDEX);
  t.equal(MsixBar.TABLE_OFFSET % 4096, 0);
});

// virtio 1.2 over PCI and virtio-net: structure layouts, feature bits, status bits and the BAR4 map (specs.md §3.2–3.8,
// §3.10). Offsets come from these structures; nothing here is retyped elsewhere.
import { defineStruct } from '../layout.ts';

/** `struct virtio_pci_cap`, 16 bytes (specs.md §3.2). */
export const VirtioPciCap = defineStruct('VirtioPciCap', [
  ['cap_vndr', 'u8'],
  ['cap_next', 'u8'],
  ['cap_len', 'u8'],
  ['cfg_type', 'u8'],
  ['bar', 'u8'],
  ['id', 'u8'],
  ['padding', { bytes: 2 }],
  ['offset', 'u32'],
  ['length', 'u32'],
] as const, 16);

/** `struct virtio_pci_notify_cap`: the cap plus `notify_off_multiplier`, 20 bytes. */
export const VirtioPciNotifyCap = defineStruct('VirtioPciNotifyCap', [
  ['cap', { bytes: VirtioPciCap.size }],
  ['notify_off_multiplier', 'u32'],
] as const, 20);

/** `struct virtio_pci_cfg_cap`: the cap plus the `pci_cfg_data` window, 20 bytes. */
export const VirtioPciCfgCap = defineStruct('VirtioPciCfgCap', [
  ['cap', { bytes: VirtioPciCap.size }],
  ['pci_cfg_data', 'u32'],
] as const, 20);

/** `struct virtio_pci_common_cfg` as of 1.2, through `queue_reset` (specs.md §3.3). 64-bit fields are lo/hi halves. */
export const CommonCfg = defineStruct('VirtioPciCommonCfg', [
  ['device_feature_select', 'u32'],
  ['device_feature', 'u32'],
  ['driver_feature_select', 'u32'],
  ['driver_feature', 'u32'],
  ['config_msix_vector', 'u16'],
  ['num_queues', 'u16'],
  ['device_status', 'u8'],
  ['config_generation', 'u8'],
  ['queue_select', 'u16'],
  ['queue_size', 'u16'],
  ['queue_msix_vector', 'u16'],
  ['queue_enable', 'u16'],
  ['queue_notify_off', 'u16'],
  ['queue_desc', 'u64'],
  ['queue_driver', 'u64'],
  ['queue_device', 'u64'],
  ['queue_notify_data', 'u16'],
  ['queue_reset', 'u16'],
] as const, 0x3c);
export type CommonCfgField = keyof typeof CommonCfg.offset;

/** `struct virtq_desc`, 16 bytes (specs.md §3.7). */
export const VirtqDesc = defineStruct('VirtqDesc', [
  ['addr', 'u64'],
  ['len', 'u32'],
  ['flags', 'u16'],
  ['next', 'u16'],
] as const, 16);

/** Head of `struct virtq_avail`: `ring[Q]` follows at +4, then `used_event` at 4 + 2·Q. */
export const VirtqAvail = defineStruct('VirtqAvail', [
  ['flags', 'u16'],
  ['idx', 'u16'],
] as const, 4);
/** One `virtq_avail.ring` entry: a head descriptor index. */
export const AVAIL_ELEM_SIZE = 2;

/** Head of `struct virtq_used`: `ring[Q]` of `virtq_used_elem` follows at +4, then `avail_event` at 4 + 8·Q. */
export const VirtqUsed = defineStruct('VirtqUsed', [
  ['flags', 'u16'],
  ['idx', 'u16'],
] as const, 4);

/** `struct virtq_used_elem`, 8 bytes. */
export const VirtqUsedElem = defineStruct('VirtqUsedElem', [
  ['id', 'u32'],
  ['len', 'u32'],
] as const, 8);

/** Byte sizes of the three split-ring parts for queue size Q (specs.md §3.7 table). */
export const ringSizes = (q: number): { desc: number; avail: number; used: number } => ({
  desc: VirtqDesc.size * q,
  avail: VirtqAvail.size + AVAIL_ELEM_SIZE * q + 2,
  used: VirtqUsed.size + VirtqUsedElem.size * q + 2,
});
/** Required alignment of each ring part. */
export const RingAlign = { desc: 16, avail: 2, used: 4 } as const;

/** `struct virtio_net_hdr_v1`, 12 bytes with VERSION_1 (specs.md §3.10). */
export const NetHdr = defineStruct('VirtioNetHdrV1', [
  ['flags', 'u8'],
  ['gso_type', 'u8'],
  ['hdr_len', 'u16'],
  ['gso_size', 'u16'],
  ['csum_start', 'u16'],
  ['csum_offset', 'u16'],
  ['num_buffers', 'u16'],
] as const, 12);

/** `struct virtio_net_config`, 24 bytes (specs.md §3.10). */
export const NetConfig = defineStruct('VirtioNetConfig', [
  ['mac', { bytes: 6 }],
  ['status', 'u16'],
  ['max_virtqueue_pairs', 'u16'],
  ['mtu', 'u16'],
  ['speed', 'u32'],
  ['duplex', 'u8'],
  ['rss_max_key_size', 'u8'],
  ['rss_max_indirection_table_length', 'u16'],
  ['supported_hash_types', 'u32'],
] as const, 24);

/** `cfg_type` values of the vendor capabilities. */
export const CfgType = {
  COMMON: 1,
  NOTIFY: 2,
  ISR: 3,
  DEVICE: 4,
  PCI_CFG: 5,
  SHARED_MEMORY: 8,
  VENDOR: 9,
} as const;

/** `device_status` bits (specs.md §3.5). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** ISR status bits (specs.md §3.4); the byte reads and clears. */
export const Isr = { QUEUE: 1 << 0, CONFIG: 1 << 1 } as const;

/** The "no vector" MSI-X value: events mapped to it are not signalled; failed mappings read back as it. */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** Transport and ring feature bits (specs.md §3.6), as bit numbers. */
export const FeatureBit = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
} as const;

/** virtio-net feature bits (specs.md §3.10), as bit numbers. */
export const NetFeatureBit = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
} as const;

/** A feature bit number as a 64-bit mask. */
export const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * Feature dependencies a device must respect when offering, and a driver when accepting (specs.md §3.10 table):
 * feature → the features it needs.
 */
export const NetFeatureDeps: readonly (readonly [number, readonly number[]])[] = [
  [NetFeatureBit.GUEST_TSO4, [NetFeatureBit.GUEST_CSUM]],
  [NetFeatureBit.GUEST_TSO6, [NetFeatureBit.GUEST_CSUM]],
  [NetFeatureBit.GUEST_ECN, [NetFeatureBit.GUEST_TSO4, NetFeatureBit.GUEST_TSO6]],
  [NetFeatureBit.GUEST_UFO, [NetFeatureBit.GUEST_CSUM]],
  [NetFeatureBit.HOST_TSO4, [NetFeatureBit.CSUM]],
  [NetFeatureBit.HOST_TSO6, [NetFeatureBit.CSUM]],
  [NetFeatureBit.HOST_ECN, [NetFeatureBit.HOST_TSO4, NetFeatureBit.HOST_TSO6]],
  [NetFeatureBit.HOST_UFO, [NetFeatureBit.CSUM]],
  [NetFeatureBit.CTRL_RX, [NetFeatureBit.CTRL_VQ]],
  [NetFeatureBit.CTRL_VLAN, [NetFeatureBit.CTRL_VQ]],
  [NetFeatureBit.GUEST_ANNOUNCE, [NetFeatureBit.CTRL_VQ]],
  [NetFeatureBit.MQ, [NetFeatureBit.CTRL_VQ]],
  [NetFeatureBit.CTRL_MAC_ADDR, [NetFeatureBit.CTRL_VQ]],
];

/** `virtq_desc.flags`. */
export const DescFlags = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** `virtq_avail.flags` bit 0: the driver asks for no used-buffer interrupts (ignored with EVENT_IDX). */
export const AvailFlags = { NO_INTERRUPT: 1 } as const;
/** `virtq_used.flags` bit 0: the device asks for no kicks (ignored with EVENT_IDX). */
export const UsedFlags = { NO_NOTIFY: 1 } as const;

/** `virtio_net_hdr.flags`. */
export const NetHdrFlags = { NEEDS_CSUM: 1, DATA_VALID: 2, RSC_INFO: 4 } as const;
/** `virtio_net_hdr.gso_type`. */
export const GsoType = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;
/** `virtio_net_config.status`. */
export const NetStatus = { LINK_UP: 1, ANNOUNCE: 2 } as const;

/** PCI identity of a modern (non-transitional) virtio-net function (specs.md §3.1, §1.7). */
export const VirtioNetIdentity = {
  VENDOR_ID: 0x1af4,
  DEVICE_ID: 0x1040 + 1,
  CLASS_ETHERNET: 0x020000,
  REVISION: 1,
  SUBSYSTEM_VENDOR_ID: 0x1af4,
  SUBSYSTEM_ID: 0x40,
} as const;
/** virtio device type of a network card. */
export const VIRTIO_ID_NET = 1;

/**
 * BAR4 (64-bit, prefetchable, 16 KiB): one 4 KiB page per virtio structure, as QEMU lays it out.
 * MSI-X table and PBA live in BAR1 (8 KiB: table page, then PBA page).
 *
 *   0x0000 COMMON  (virtio_pci_common_cfg, 0x3C bytes)
 *   0x1000 ISR     (1 byte used, 4 decoded)
 *   0x2000 DEVICE  (virtio_net_config, 24 bytes)
 *   0x3000 NOTIFY  (queue q at 0x3000 + q·NOTIFY_OFF_MULTIPLIER)
 */
export const Bar4 = {
  INDEX: 4,
  SIZE: 0x4000,
  COMMON_OFFSET: 0x0000,
  ISR_OFFSET: 0x1000,
  ISR_LENGTH: 4,
  DEVICE_OFFSET: 0x2000,
  NOTIFY_OFFSET: 0x3000,
  NOTIFY_OFF_MULTIPLIER: 4,
  PAGE: 0x1000,
} as const;
export const MsixBar = { INDEX: 1, SIZE: 0x2000, TABLE_OFFSET: 0 } as const;

/** Largest split queue the spec allows. */
export const MAX_QUEUE_SIZE = 32768;

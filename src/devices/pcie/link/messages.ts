// The emulated PCIe link: frame header and command catalogue, modelled on vfio-user (specs.md §5) with a function
// id for routing and in-band MSI-X (≥ 0x8000). docs/link-protocol.md is the normative description of this file.
import { defineStruct } from '../../layout.ts';

/** Link protocol version spoken by this implementation. */
export const LINK_VERSION = { major: 1, minor: 0 } as const;

/** Default (and largest) `max_data_xfer_size`: the most data bytes one REGION or DMA read/write carries. */
export const MAX_DATA_XFER = 1 << 20;

/** Largest payload (bytes after the header) a peer must accept; larger frames are answered with EMSGSIZE.
 *  Room for a full MAX_DATA_XFER transfer plus its 16-byte access header (and slack for future headers). */
export const MAX_PAYLOAD = MAX_DATA_XFER + 64;

/**
 * Frame header, 16 bytes, little-endian:
 *   +0 u32 msgId   request id chosen by the sender, echoed in the reply
 *   +4 u16 cmd     LinkCmd
 *   +6 u16 fn      PCI function the frame is about (0xFFFF = the link itself / management)
 *   +8 u32 size    total frame size including this header
 *  +12 u16 flags   LinkFlag bits
 *  +14 u16 error   LinkErrno, valid when flags has ERROR
 */
export const FrameHeader = defineStruct('FrameHeader', [
  ['msgId', 'u32'],
  ['cmd', 'u16'],
  ['fn', 'u16'],
  ['size', 'u32'],
  ['flags', 'u16'],
  ['error', 'u16'],
] as const, 16);

export const LINK_FN = 0xffff;

export const LinkFlag = {
  REPLY: 1 << 0,
  /** Posted request (PCIe MWr semantics): no completion unless it fails. */
  NO_REPLY: 1 << 1,
  ERROR: 1 << 2,
} as const;

export const LinkCmd = {
  /** host→card: u16 major, u16 minor, then NUL-terminated JSON capabilities. Reply: same shape. */
  VERSION: 0x0001,
  /** host→card: announce an IOMMU window for fn: u32 flags (1 READ, 2 WRITE), u32 memId, u64 iova, u64 size,
   *  u64 gpa (where the window starts inside guest memory `memId`; used by cards with shared-memory DMA). */
  DMA_MAP: 0x0002,
  /** host→card: withdraw a window: u32 flags, u32 rsvd, u64 iova, u64 size (must match a map exactly). */
  DMA_UNMAP: 0x0003,
  /** host→card: describe fn: reply u32 flags (1 RESET, 2 PCI), u32 numRegions, u32 numIrqs, u32 rsvd. */
  DEVICE_GET_INFO: 0x0004,
  /** host→card: u64 offset, u32 region (0–5 BAR, 7 config), u32 count (1,2,4). Reply: same + data[count]. */
  REGION_READ: 0x0009,
  /** host→card: u64 offset, u32 region, u32 count, data[count]. Config writes want a reply; BAR writes are posted. */
  REGION_WRITE: 0x000a,
  /** card→host: u64 iova, u64 count. Reply: u64 iova, u64 count, data[count]. */
  DMA_READ: 0x000b,
  /** card→host, posted: u64 iova, u64 count, data[count]. An error reply is sent only on a fault. */
  DMA_WRITE: 0x000c,
  /** host→card: function-level reset of fn. */
  DEVICE_RESET: 0x000d,
  /** card→host, posted: MSI-X message: u64 address, u32 data, u32 vector (informative). */
  MSIX: 0x8000,
  /** host→card: bind fn to this connection (DMA and MSI-X for fn are sent here). Reply: empty. */
  BIND: 0x8001,
  /** either way, on fn 0xFFFF: management channel, UTF-8 JSON MgmtRequest/MgmtReply. */
  MGMT: 0x8002,
  /** host→card, posted: doorbell write carrying pushed submission entries (ENA LLQ style): the DoorbellPush
   *  header (u64 offset, u32 region, u32 value, u16 start, u16 count, u16 entrySize, u16 rsvd), then
   *  count × entrySize entry bytes. docs/link-protocol.md §4.1. */
  DOORBELL_PUSH: 0x8003,
  /** either way: link liveness probe. Reply: empty. */
  PING: 0x8004,
  /** either way, posted, on the hypervisor's connection in legacy mode only: one Ethernet frame (no FCS) of the
   *  legacy virtio-net function `fn` — the host's NIC port into the card's VPC data plane. docs/link-protocol.md §4.2. */
  NET_FRAME: 0x8005,
} as const;
export type LinkCmd = (typeof LinkCmd)[keyof typeof LinkCmd];

/** errno-style codes carried in error replies (values as Linux errno). */
export const LinkErrno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  EPROTO: 71,
  EMSGSIZE: 90,
  ENOTSUP: 95,
  ETIMEDOUT: 110,
  ECONNRESET: 104,
} as const;
export type LinkErrno = (typeof LinkErrno)[keyof typeof LinkErrno];

/** VFIO region indices (specs.md §5). */
export const Region = { BAR0: 0, BAR5: 5, ROM: 6, CONFIG: 7 } as const;

/** Payload layouts. */
export const RegionAccess = defineStruct('RegionAccess', [
  ['offset', 'u64'],
  ['region', 'u32'],
  ['count', 'u32'],
] as const, 16);

/** DOORBELL_PUSH payload header (docs/link-protocol.md §4.1): the doorbell write (`offset`, `region`, 4-byte `value`)
 *  and the `count` entries of `entrySize` bytes that follow it, the first of them for queue slot `start`. */
export const DoorbellPush = defineStruct('DoorbellPush', [
  ['offset', 'u64'],
  ['region', 'u32'],
  ['value', 'u32'],
  ['start', 'u16'],
  ['count', 'u16'],
  ['entrySize', 'u16'],
  ['rsvd', 'u16'],
] as const, 24);

/** Most entries one DOORBELL_PUSH carries (a sender pushes at most this many; the card fetches the rest by DMA). */
export const PUSH_MAX_ENTRIES = 64;

export const DmaAccess = defineStruct('DmaAccess', [
  ['iova', 'u64'],
  ['count', 'u64'],
] as const, 16);

/** DMA_MAP payload. `memId` names a guest memory region the host shared with the card (shm transport) and `gpa`
 *  is the window's start inside it; over a socket both are informative (the host translates). */
export const DmaMap = defineStruct('DmaMap', [
  ['flags', 'u32'],
  ['memId', 'u32'],
  ['iova', 'u64'],
  ['size', 'u64'],
  ['gpa', 'u64'],
] as const, 32);

/** DMA_UNMAP payload: must match an earlier DMA_MAP's iova and size exactly. */
export const DmaUnmap = defineStruct('DmaUnmap', [
  ['flags', 'u32'],
  ['rsvd', 'u32'],
  ['iova', 'u64'],
  ['size', 'u64'],
] as const, 24);

/** DMA_MAP flags. */
export const DmaMapFlag = { READ: 1 << 0, WRITE: 1 << 1 } as const;

/** DEVICE_GET_INFO reply flags. */
export const DeviceInfoFlag = { RESET: 1 << 0, PCI: 1 << 1 } as const;

export const MsixMessage = defineStruct('MsixMessage', [
  ['address', 'u64'],
  ['data', 'u32'],
  ['vector', 'u32'],
] as const, 16);

export const DeviceInfo = defineStruct('DeviceInfo', [
  ['flags', 'u32'],
  ['numRegions', 'u32'],
  ['numIrqs', 'u32'],
  ['rsvd', 'u32'],
] as const, 16);

/** A decoded frame: header fields plus a view of the payload. The codec never reuses memory it handed out, so the
 *  view stays valid; copy it only if you keep it for long (it may pin a larger receive chunk). */
export interface Frame {
  msgId: number;
  cmd: number;
  fn: number;
  flags: number;
  error: number;
  payload: Uint8Array;
}

// ---- Management channel (card ⇄ hypervisor), carried as JSON in MGMT frames on fn 0xFFFF. -------------------------
// The card commands, the hypervisor obeys: the hypervisor never sends a MgmtRequest, only replies and events the card
// subscribed to (console output, guest state changes).

export interface VmSpec {
  vmId: string;
  vcpus: number;
  memBytes: number;
  userData: string;
}

export type MgmtRequest =
  | { op: 'hello' }
  | { op: 'create-vm'; vm: VmSpec }
  | { op: 'assign-vf'; vmId: string; fn: number; slot: number }
  | { op: 'unassign-vf'; vmId: string; fn: number }
  | { op: 'iommu-map'; vmId: string; fn: number; iova: number; gpa: number; size: number; write: boolean }
  | { op: 'iommu-unmap'; vmId: string; fn: number; iova: number; size: number }
  | { op: 'start-vm'; vmId: string }
  /** Orderly first (ACPI-like power button: the guest shuts its drivers down) unless `force`; forced after `graceMs`
   *  (default: the host's). Reply result: `{ outcome: 'orderly' | 'forced' | 'not-running' }`. The VM stays created
   *  (halted) and can be started again; its RAM is cleared on the next start. */
  | { op: 'stop-vm'; vmId: string; force: boolean; graceMs?: number; reason?: string }
  | { op: 'reboot-vm'; vmId: string; graceMs?: number }
  | { op: 'destroy-vm'; vmId: string }
  | { op: 'console-input'; vmId: string; data: string }
  | { op: 'stats' }
  /** Legacy mode only (docs/ARCHITECTURE.md §10): the hypervisor creates the device model of function `fn` itself and
   *  runs it in the host process; assign-vf, iommu-map, start-vm then work as for a card function. An offload-mode
   *  hypervisor refuses (NotSupported). */
  | { op: 'create-device'; fn: number; device: LegacyDeviceSpec }
  | { op: 'destroy-device'; fn: number };

/** A device the card asks a legacy-mode hypervisor to emulate: an EBS volume's NVMe controller over its backing file,
 *  or an ENI's virtio-net device whose frames cross the link as NET_FRAME to the card's VPC data plane. */
export type LegacyDeviceSpec = LegacyNvmeSpec | LegacyNetSpec;

export interface LegacyNetSpec { kind: 'virtio-net'; eniId: string; mac: string }

export interface LegacyNvmeSpec {
  kind: 'nvme';
  /** The volume's export on the block store (nbd://…), when the card has one: the hypervisor's model then reaches the
   *  same data the card would, over NBD. Absent: the sparse file at `path`. */
  url?: string;
  personality: 'ebs' | 'instance-store';
  volumeId: string;
  deviceName: string;
  sizeBytes: number;
  path: string;
  /** EBS limits the block path enforces in either mode (absent = gp3 baseline; 0 = unlimited). */
  iops?: number;
  throughputMiBps?: number;
}

export type MgmtReply =
  | { ok: true; result?: unknown }
  | { ok: false; code: string; message: string };

/** A VM as the hypervisor reports it in its hello. */
export interface HelloVm { vmId: string; state: 'created' | 'booting' | 'running' | 'halted' | 'crashed'; fns: number[] }

/** Unsolicited notifications from the hypervisor to the card (posted MGMT frames with msgId 0). */
export type MgmtEvent =
  /** `vms`: the VMs this hypervisor runs, so a card that restarted can reconcile (docs/reliability.md). */
  | { event: 'hello'; role: 'hypervisor'; pcpus: number; memBytes: number; vms?: HelloVm[] }
  | { event: 'console'; vmId: string; data: string }
  | { event: 'vm-state'; vmId: string; state: 'booting' | 'running' | 'halted' | 'crashed'; reason: string };

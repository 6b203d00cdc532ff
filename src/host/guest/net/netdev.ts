// The boundary between a network driver and the IP stack (Linux's net_device, reduced): a driver registers a NetDevice
// and gets back a NetDeviceHandle through which it hands received frames and link changes to the stack.

/** Transmit checksum offload for one frame (virtio NEEDS_CSUM): the L4 checksum field already holds the pseudo-header
 * sum; the device sums from `start` to the end and stores the complement at `start + offset`. */
export interface TxChecksum {
  readonly start: number;
  readonly offset: number;
}

export interface NetDeviceStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  /** Transmit refused because the ring was full. */
  txBusy: number;
}

export const newDeviceStats = (): NetDeviceStats => ({
  rxPackets: 0, rxBytes: 0, rxDropped: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txDropped: 0, txBusy: 0,
});

export interface NetDevice {
  /** `eth0`. */
  readonly name: string;
  /** Driver name for `ip -d link` (e.g. virtio_net). */
  readonly driver: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly linkUp: boolean;
  /** The device completes L4 checksums on transmit. */
  readonly txChecksumOffload: boolean;
  readonly stats: NetDeviceStats;
  /** Queue one Ethernet frame (no FCS). False when it was not queued (ring full, device down): counted, not thrown. */
  transmit(frame: Uint8Array, csum?: TxChecksum): boolean;
  /** Driver-specific counters for `ip -s -d link`. */
  extraStats?(): Readonly<Record<string, number>>;
  /** Resolves once the transmit ring has room again (after transmit returned false for a full ring), or the device
   *  went down; a sender waits on it instead of retrying (Linux: netif_stop_queue / netif_wake_queue). */
  whenTxReady?(): Promise<void>;
}

export interface NetDeviceHandle {
  /** A received frame; `csumValid` when the device vouched for the L4 checksum (virtio DATA_VALID). */
  receive(frame: Uint8Array, csumValid: boolean): void;
  /** Link state or MAC changed. */
  linkChanged(): void;
}

export interface NetDeviceRegistry {
  registerDevice(dev: NetDevice): NetDeviceHandle;
}

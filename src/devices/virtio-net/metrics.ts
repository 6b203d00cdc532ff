// virtio-net counters: packets, bytes and drops each way, malformed rings, resets, interrupts and kicks. Kept locally
// for snapshots (panel, tests) and forwarded to the context's DeviceMetrics under stable names.
import type { DeviceMetrics } from '../contract.ts';

/** Counter names as the owner sees them (Prometheus style). */
export const NetCounter = {
  TX_PACKETS: 'virtio_net_tx_packets_total',
  TX_BYTES: 'virtio_net_tx_bytes_total',
  TX_DROPPED: 'virtio_net_tx_dropped_total',
  RX_PACKETS: 'virtio_net_rx_packets_total',
  RX_BYTES: 'virtio_net_rx_bytes_total',
  RX_DROPPED: 'virtio_net_rx_dropped_total',
  MALFORMED_RING: 'virtio_net_malformed_ring_total',
  NEEDS_RESET: 'virtio_net_needs_reset_total',
  INTERRUPTS: 'virtio_net_interrupts_total',
  NOTIFIES: 'virtio_net_notifies_total',
  DRIVER_ERRORS: 'virtio_net_driver_errors_total',
} as const;

/** Per-reason counters are `<base>_<reason with - → _>_total`, e.g. virtio_net_malformed_desc_chain_too_long_total. */
export function reasonCounter(base: 'virtio_net_malformed' | 'virtio_net_tx_dropped' | 'virtio_net_rx_dropped' | 'virtio_net_driver_error', reason: string): string {
  return `${base}_${reason.replace(/-/g, '_')}_total`;
}

export interface NetMetricsSnapshot {
  txPackets: number;
  txBytes: number;
  txDropped: number;
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  malformedRing: number;
  needsReset: number;
  interrupts: number;
  notifies: number;
  driverErrors: number;
}

/** What the transport reports; the net device's metrics implement it. */
export interface TransportMetrics {
  malformed(reason: string): void;
  needsReset(): void;
  interrupt(): void;
  notify(): void;
  driverError(reason: string): void;
}

export class VirtioNetMetrics implements TransportMetrics {
  private readonly sink: DeviceMetrics;
  private readonly c: NetMetricsSnapshot = {
    txPackets: 0, txBytes: 0, txDropped: 0, rxPackets: 0, rxBytes: 0, rxDropped: 0,
    malformedRing: 0, needsReset: 0, interrupts: 0, notifies: 0, driverErrors: 0,
  };

  constructor(sink: DeviceMetrics) {
    this.sink = sink;
  }

  txPacket(bytes: number): void {
    this.c.txPackets++;
    this.c.txBytes += bytes;
    this.sink.inc(NetCounter.TX_PACKETS);
    this.sink.inc(NetCounter.TX_BYTES, bytes);
  }

  txDrop(reason: string): void {
    this.c.txDropped++;
    this.sink.inc(NetCounter.TX_DROPPED);
    this.sink.inc(reasonCounter('virtio_net_tx_dropped', reason));
  }

  rxPacket(bytes: number): void {
    this.c.rxPackets++;
    this.c.rxBytes += bytes;
    this.sink.inc(NetCounter.RX_PACKETS);
    this.sink.inc(NetCounter.RX_BYTES, bytes);
  }

  rxDrop(reason: string): void {
    this.c.rxDropped++;
    this.sink.inc(NetCounter.RX_DROPPED);
    this.sink.inc(reasonCounter('virtio_net_rx_dropped', reason));
  }

  malformed(reason: string): void {
    this.c.malformedRing++;
    this.sink.inc(NetCounter.MALFORMED_RING);
    this.sink.inc(reasonCounter('virtio_net_malformed', reason));
  }

  needsReset(): void {
    this.c.needsReset++;
    this.sink.inc(NetCounter.NEEDS_RESET);
  }

  interrupt(): void {
    this.c.interrupts++;
    this.sink.inc(NetCounter.INTERRUPTS);
  }

  notify(): void {
    this.c.notifies++;
    this.sink.inc(NetCounter.NOTIFIES);
  }

  /** A driver broke a register-level rule (ignored write, refused features); not a ring fault. */
  driverError(reason: string): void {
    this.c.driverErrors++;
    this.sink.inc(NetCounter.DRIVER_ERRORS);
    this.sink.inc(reasonCounter('virtio_net_driver_error', reason));
  }

  snapshot(): Readonly<NetMetricsSnapshot> {
    return { ...this.c };
  }
}

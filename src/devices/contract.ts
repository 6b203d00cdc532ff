// The device contract: the only thing a device model sees of the world. The card (offload mode) or the hypervisor
// (legacy mode) builds a DeviceContext for each PCI function; the same device code runs in either place.
import type { Iova } from './brand.ts';

/** DMA from the device into guest memory, through the IOMMU window the hypervisor mapped for this function. */
export interface DmaPort {
  /** Copy `dst.length` bytes from guest memory at `addr` into `dst`. Rejects with DmaFault if unmapped. */
  read(addr: Iova, dst: Uint8Array): Promise<void>;
  /** Copy `src` into guest memory at `addr` (a posted write: ordering with later writes and MSI-X is preserved). */
  write(addr: Iova, src: Uint8Array): Promise<void>;
}

/** An IOMMU fault or a link failure seen by a device's DMA. Devices map it to their spec status. */
export class DmaFault extends Error {
  readonly addr: number;
  readonly length: number;
  readonly reason: 'unmapped' | 'permission' | 'link-down' | 'too-large';
  constructor(addr: number, length: number, reason: DmaFault['reason']) {
    super(`DMA ${reason} at 0x${addr.toString(16)} (+${length})`);
    this.name = 'DmaFault';
    this.addr = addr;
    this.length = length;
    this.reason = reason;
  }
}

/** Interrupts as the device raises them: the function's MSI-X logic applies masks, PBA and Bus Master gating. */
export interface IrqPort {
  /** Signal MSI-X vector n (sent at once, or recorded in the PBA while masked). */
  raise(vector: number): void;
}

/** Time, injected so tests can step a device deterministically. */
export interface Clock {
  /** Monotonic nanoseconds. */
  nowNs(): bigint;
  /** Run `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The pino-compatible subset a device may use. Named events go in `event`. */
export interface DeviceLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Counters and histograms a device reports; the owner decides where they go (Prometheus, panel, snapshot). */
export interface DeviceMetrics {
  inc(name: string, by?: number): void;
  observe(name: string, value: number): void;
}

/** One step of a traced I/O, for the panel's transaction timeline. */
export interface TraceEvent {
  readonly tNs: bigint;
  readonly fn: number;
  readonly kind: 'doorbell' | 'desc-dma' | 'data-dma' | 'completion' | 'msix' | 'exit' | 'inject' | 'backend';
  readonly detail: string;
}

export interface DeviceContext {
  readonly dma: DmaPort;
  readonly irq: IrqPort;
  readonly clock: Clock;
  readonly log: DeviceLog;
  readonly metrics: DeviceMetrics;
  /** Optional sampler for I/O traces; devices call it only when `sampling()` is true. */
  readonly trace?: { sampling(): boolean; emit(e: TraceEvent): void };
}

/** A register region inside a BAR, as a device exposes it. Accesses are 1, 2 or 4 bytes; 8-byte accesses arrive as
 * two 4-byte accesses, low half first (as Linux's lo_hi helpers do). Reads of unimplemented offsets return 0. */
export interface BarRegion {
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
  /** Optional: a 4-byte doorbell write that carries the entries it announces (the link's DOORBELL_PUSH, ENA LLQ
   *  style). Returns null when taken, or why the whole push was refused (the doorbell is then not applied). */
  push?(p: PushedEntries): PushRefusal | null;
}

/** Entries pushed with a doorbell write: `count` entries of `entrySize` bytes for queue slots `start`, `start`+1, …
 *  `entries` is a view the device must copy from before returning. */
export interface PushedEntries {
  readonly offset: number;
  readonly value: number;
  readonly start: number;
  readonly count: number;
  readonly entrySize: number;
  readonly entries: Uint8Array;
}

/** Why a device refused a push: the frame does not fit the queue, or the queue does not take pushes. */
export interface PushRefusal { readonly kind: 'malformed' | 'not-enabled'; readonly reason: string }

/** A BAR a device declares: its size (power of two), kind, and the region behind it. */
export interface BarDecl {
  readonly index: number; // 0..5
  readonly size: number; // bytes, power of two, ≥ 16
  readonly is64: boolean;
  readonly prefetchable: boolean;
  /** The device's registers; MSI-X table/PBA are placed by the PCI function model, not by the device. */
  readonly region: BarRegion;
}

/** PCI identity of a function. */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly subsystemVendorId: number;
  readonly subsystemId: number;
  readonly revisionId: number;
  /** 24-bit class code: base << 16 | sub << 8 | prog-if (NVMe = 0x010802). */
  readonly classCode: number;
}

/** What a device model hands the PCI function model that wraps it. */
export interface PciDeviceModel {
  readonly identity: PciIdentity;
  readonly bars: readonly BarDecl[];
  /** Number of MSI-X vectors (table size); the function model places table and PBA in `msixBar`. */
  readonly msixVectors: number;
  readonly msixBar: number;
  /** Offset of the MSI-X table in `msixBar` (4 KiB aligned); PBA follows in its own page. */
  readonly msixTableOffset: number;
  /** Extra capabilities in standard config space (e.g. virtio vendor caps), as raw bytes with cap id first. */
  readonly extraCapabilities?: readonly Uint8Array[];
  /** Function-level reset (FLR) or link-down: drop all state back to power-on values. */
  reset(): void;
  /** Called when Bus Master Enable changes, so a device can stop DMA while it is off. */
  busMasterChanged?(enabled: boolean): void;
}

// MSI-X table, Pending Bit Array and the delivery rules (specs.md §1.5).
import { defineStruct } from '../layout.ts';
import type { DeviceLog, DeviceMetrics } from '../contract.ts';

/** One MSI-X table entry, 16 bytes. */
export const MsixTableEntry = defineStruct('MsixTableEntry', [
  ['addressLo', 'u32'],
  ['addressHi', 'u32'],
  ['data', 'u32'],
  ['vectorControl', 'u32'],
] as const, 16);

const E = MsixTableEntry.offset;
const ENTRY_SIZE = MsixTableEntry.size;

/** Vector Control bit 0: Mask (resets to 1). Other bits reserved (RO 0). */
export const VECTOR_CONTROL_MASK = 1;
/** Message Address low half: bits 1:0 are hard-wired 0 (DWORD-aligned). */
const ADDRESS_LO_RW = 0xffff_fffc;
/** Largest table (Message Control Table Size is 11 bits). */
export const MSIX_MAX_VECTORS = 2048;
const PAGE = 4096;

/** Table and PBA bytes for `vectors` vectors, each rounded up to whole 4 KiB pages (specs.md §1.5 rule 6). */
export function msixPages(vectors: number): { tableBytes: number; pbaBytes: number; tablePages: number; pbaPages: number } {
  const tableBytes = vectors * ENTRY_SIZE;
  const pbaBytes = Math.ceil(vectors / 64) * 8;
  return { tableBytes, pbaBytes, tablePages: Math.ceil(tableBytes / PAGE), pbaPages: Math.ceil(pbaBytes / PAGE) };
}

export interface MsixVectorState {
  address: number;
  data: number;
  masked: boolean;
  pending: boolean;
}

export interface MsixOptions {
  vectors: number;
  /** A posted 32-bit write of `data` to `address`. */
  send(address: number, data: number, vector: number): void;
  log: DeviceLog;
  metrics: DeviceMetrics;
}

/**
 * The function's MSI-X state. The PCI function model keeps `enabled`, `functionMasked` and `busMaster` in step with
 * config space; every change that could unblock a vector re-checks the pending bits.
 */
export class Msix {
  readonly vectors: number;
  private readonly table: Uint8Array;
  private readonly tableView: DataView;
  private readonly pba: Uint8Array;
  private readonly pbaView: DataView;
  private enabled = false;
  private functionMasked = false;
  private busMaster = false;
  private readonly opts: MsixOptions;

  constructor(opts: MsixOptions) {
    if (!Number.isInteger(opts.vectors) || opts.vectors < 1 || opts.vectors > MSIX_MAX_VECTORS) {
      throw new RangeError(`MSI-X vectors ${opts.vectors} out of range 1..${MSIX_MAX_VECTORS}`);
    }
    this.opts = opts;
    this.vectors = opts.vectors;
    const { tableBytes, pbaBytes } = msixPages(opts.vectors);
    this.table = new Uint8Array(tableBytes);
    this.tableView = new DataView(this.table.buffer);
    this.pba = new Uint8Array(pbaBytes);
    this.pbaView = new DataView(this.pba.buffer);
    this.reset();
  }

  /** Power-on state: every entry zeroed and masked, nothing pending, MSI-X disabled. */
  reset(): void {
    this.table.fill(0);
    for (let n = 0; n < this.vectors; n++) this.tableView.setUint32(n * ENTRY_SIZE + E.vectorControl, VECTOR_CONTROL_MASK, true);
    this.pba.fill(0);
    this.enabled = false;
    this.functionMasked = false;
    this.busMaster = false;
  }

  /** Message Control changed (MSI-X Enable, Function Mask). */
  setControl(enabled: boolean, functionMasked: boolean): void {
    this.enabled = enabled;
    this.functionMasked = functionMasked;
    this.flushPending();
  }

  /** Command.Bus Master changed. */
  setBusMaster(on: boolean): void {
    this.busMaster = on;
    this.flushPending();
  }

  /** The device signals vector n (rules 1–3). */
  raise(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectors) {
      this.opts.log.warn({ event: 'msix-vector-out-of-range', vector, vectors: this.vectors });
      this.opts.metrics.inc('msix_vector_out_of_range_total');
      return;
    }
    if (!this.enabled) return this.drop(vector, 'disabled');
    if (this.isMasked(vector)) {
      this.setPending(vector, true);
      this.opts.metrics.inc('msix_pending_set_total');
      return;
    }
    if (!this.busMaster) return this.drop(vector, 'bus-master-off');
    this.send(vector);
  }

  /** Read from the table; `offset` is relative to the table start and already checked to lie in the table pages. */
  tableRead(offset: number, size: 1 | 2 | 4): number {
    if (offset + size > this.table.length) return 0; // the rest of the table page(s): reserved, reads 0
    return readLe(this.tableView, offset, size);
  }

  /** Write the table: aligned DWORDs only (rule 5); reserved bits are read-only. */
  tableWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      this.opts.log.warn({ event: 'msix-table-bad-access', offset, size });
      this.opts.metrics.inc('msix_bad_access_total');
      return;
    }
    if (offset + size > this.table.length) return;
    const vector = Math.floor(offset / ENTRY_SIZE);
    const field = offset % ENTRY_SIZE;
    if (field === E.addressLo) value &= ADDRESS_LO_RW;
    if (field === E.vectorControl) value &= VECTOR_CONTROL_MASK;
    this.tableView.setUint32(offset, value >>> 0, true);
    if (field === E.vectorControl) this.flushVector(vector);
  }

  /** Read the PBA; `offset` is relative to the PBA start. */
  pbaRead(offset: number, size: 1 | 2 | 4): number {
    if (offset + size > this.pba.length) return 0;
    return readLe(this.pbaView, offset, size);
  }

  /** The PBA is read-only. */
  pbaWrite(offset: number, size: 1 | 2 | 4): void {
    this.opts.log.warn({ event: 'msix-pba-write', offset, size });
    this.opts.metrics.inc('msix_bad_access_total');
  }

  /** One vector's state, for tests, the panel and snapshots. */
  vector(n: number): MsixVectorState {
    const at = n * ENTRY_SIZE;
    return {
      address: this.address(n),
      data: this.tableView.getUint32(at + E.data, true),
      masked: (this.tableView.getUint32(at + E.vectorControl, true) & VECTOR_CONTROL_MASK) !== 0,
      pending: this.isPending(n),
    };
  }

  get isEnabled(): boolean { return this.enabled; }
  get isFunctionMasked(): boolean { return this.functionMasked; }

  private isMasked(n: number): boolean {
    return this.functionMasked || (this.tableView.getUint32(n * ENTRY_SIZE + E.vectorControl, true) & VECTOR_CONTROL_MASK) !== 0;
  }

  private isPending(n: number): boolean {
    return ((this.pba[n >>> 3] ?? 0) & (1 << (n & 7))) !== 0;
  }

  private setPending(n: number, on: boolean): void {
    const byte = this.pba[n >>> 3] ?? 0;
    this.pba[n >>> 3] = on ? byte | (1 << (n & 7)) : byte & ~(1 << (n & 7));
  }

  private address(n: number): number {
    const at = n * ENTRY_SIZE;
    return this.tableView.getUint32(at + E.addressHi, true) * 0x1_0000_0000 + this.tableView.getUint32(at + E.addressLo, true);
  }

  /** Rule 2: a pending vector that can now fire is sent and its PBA bit cleared. */
  private flushVector(n: number): void {
    if (this.isPending(n) && this.enabled && this.busMaster && !this.isMasked(n)) {
      this.setPending(n, false);
      this.send(n);
    }
  }

  private flushPending(): void {
    if (!this.enabled || !this.busMaster || this.functionMasked) return;
    for (let byte = 0; byte < this.pba.length; byte++) {
      if (this.pba[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++) this.flushVector(byte * 8 + bit);
    }
  }

  /** Rule 3: one posted 32-bit write of Data to Address. */
  private send(n: number): void {
    const at = n * ENTRY_SIZE;
    const hi = this.tableView.getUint32(at + E.addressHi, true);
    if (hi >= 0x20_0000) {
      // Above 2^53: not representable as a number; no real platform puts its MSI doorbell there.
      this.opts.log.warn({ event: 'msix-address-unrepresentable', vector: n, addressHi: hi });
      this.opts.metrics.inc('msix_dropped_total');
      return;
    }
    this.opts.metrics.inc('msix_sent_total');
    this.opts.send(this.address(n), this.tableView.getUint32(at + E.data, true), n);
  }

  private drop(vector: number, reason: 'disabled' | 'bus-master-off'): void {
    this.opts.log.debug({ event: 'msix-dropped', vector, reason });
    this.opts.metrics.inc('msix_dropped_total');
  }
}

function readLe(v: DataView, offset: number, size: 1 | 2 | 4): number {
  switch (size) {
    case 1: return v.getUint8(offset);
    case 2: return v.getUint16(offset, true);
    case 4: return v.getUint32(offset, true);
  }
}

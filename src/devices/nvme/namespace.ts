// A namespace: an NSID bound to a BlockBackend with a fixed LBA size (NVMe Base 1.4 §6; specs.md §2.11).
import type { BlockBackend } from './backend.ts';
import { IoStats } from './metrics.ts';

export class Namespace {
  /** log2 of the LBA size (LBAF.LBADS). */
  readonly lbads: number;
  /** Size in logical blocks (NSZE = NCAP = NUSE). */
  readonly nsze: number;
  /** Per-namespace I/O statistics (the EBS statistics log page reads these). */
  readonly stats = new IoStats();

  constructor(
    readonly nsid: number,
    readonly backend: BlockBackend,
    readonly lbaSize: number,
  ) {
    this.lbads = 31 - Math.clz32(lbaSize);
    this.nsze = Math.floor(backend.sizeBytes / lbaSize);
  }
}

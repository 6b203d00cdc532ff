// An in-memory BlockBackend for benchmarks: isolates the link + NVMe controller cost from the file system's.
import { BackendError, type BlockBackend } from '../../src/devices/nvme/backend.ts';

export class MemBackend implements BlockBackend {
  private readonly data: Uint8Array;
  constructor(readonly sizeBytes: number) { this.data = new Uint8Array(sizeBytes); }
  private check(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.sizeBytes) throw new BackendError('range', `range ${offset}+${length} beyond ${this.sizeBytes}`);
  }
  async read(offset: number, dst: Uint8Array): Promise<void> { this.check(offset, dst.byteLength); dst.set(this.data.subarray(offset, offset + dst.byteLength)); }
  async write(offset: number, src: Uint8Array): Promise<void> { this.check(offset, src.byteLength); this.data.set(src, offset); }
  async flush(): Promise<void> {}
  async discard(offset: number, length: number): Promise<void> { this.check(offset, length); this.data.fill(0, offset, offset + length); }
  async writeZeroes(offset: number, length: number): Promise<void> { this.check(offset, length); this.data.fill(0, offset, offset + length); }
  async close(): Promise<void> {}
}

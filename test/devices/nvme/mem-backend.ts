// An in-memory BlockBackend stand-in, used only in unit tests: a byte array, call counters, injected failures, and a
// gate that holds operations so tests can keep commands in flight deterministically.
import { BackendError, type BlockBackend } from '../../../src/devices/nvme/backend.ts';

type Op = 'read' | 'write' | 'flush' | 'discard' | 'writeZeroes';

export class MemBackendStandIn implements BlockBackend {
  readonly data: Uint8Array;
  readonly calls: { op: Op; offset: number; length: number; fua: boolean }[] = [];
  /** Fail the next operation of this kind with this error kind. */
  failNext: { op: Op; kind: BackendError['kind'] } | null = null;
  /** Throw a plain Error (not a BackendError) on the next operation: an unexpected host failure. */
  crashNext = false;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  /** Operations currently waiting at the gate. */
  waiting = 0;

  constructor(readonly sizeBytes: number) {
    this.data = new Uint8Array(sizeBytes);
  }

  /** Hold every later operation until `release()`. */
  hold(): void {
    this.gate = new Promise((r) => { this.openGate = r; });
  }
  release(): void {
    this.openGate?.();
    this.gate = null;
    this.openGate = null;
  }

  private async enter(op: Op, offset: number, length: number, fua = false): Promise<void> {
    this.calls.push({ op, offset, length, fua });
    if (this.gate !== null) {
      this.waiting++;
      await this.gate;
      this.waiting--;
    }
    if (this.crashNext) { this.crashNext = false; throw new Error('stand-in crash'); }
    if (this.failNext !== null && this.failNext.op === op) {
      const k = this.failNext.kind;
      this.failNext = null;
      throw new BackendError(k, `injected ${k} on ${op}`);
    }
    if (offset + length > this.sizeBytes) throw new BackendError('range', 'beyond end');
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    await this.enter('read', offset, dst.byteLength);
    dst.set(this.data.subarray(offset, offset + dst.byteLength));
  }
  async write(offset: number, src: Uint8Array, fua: boolean): Promise<void> {
    await this.enter('write', offset, src.byteLength, fua);
    this.data.set(src, offset);
  }
  async flush(): Promise<void> {
    await this.enter('flush', 0, 0);
  }
  async discard(offset: number, length: number): Promise<void> {
    await this.enter('discard', offset, length);
    this.data.fill(0, offset, offset + length);
  }
  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    await this.enter('writeZeroes', offset, length, fua);
    this.data.fill(0, offset, offset + length);
  }
  async close(): Promise<void> {}
}

// Data buffers for command payloads, pooled by power-of-two size class so hot paths never allocate per command.
export class BufferPool {
  private readonly classes: Uint8Array[][] = [];
  /** Buffers kept per size class; beyond this, returned buffers are left to the GC. */
  constructor(private readonly keepPerClass = 64) {}

  /** A buffer of at least `bytes` bytes (contents undefined); give it back with `give`. */
  take(bytes: number): Uint8Array {
    const cls = sizeClass(bytes);
    const list = this.classes[cls];
    const b = list?.pop();
    return b ?? new Uint8Array(1 << cls);
  }

  give(buf: Uint8Array): void {
    const cls = sizeClass(buf.byteLength);
    if (1 << cls !== buf.byteLength) return; // not one of ours
    const list = (this.classes[cls] ??= []);
    if (list.length < this.keepPerClass) list.push(buf);
  }
}

/** log2 of the smallest power of two ≥ bytes, at least 9 (512 B). */
function sizeClass(bytes: number): number {
  if (bytes <= 512) return 9;
  return 32 - Math.clz32(bytes - 1);
}

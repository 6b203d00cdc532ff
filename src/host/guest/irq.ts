// Interrupt vectors: the kernel hands out MSI data values (x86-style vectors 0x20–0xEF) to drivers and dispatches
// each arriving MSI to the handler that owns its vector; unknown vectors are counted as spurious, never fatal.

export const FIRST_VECTOR = 0x20;
export const LAST_VECTOR = 0xef;

export type IrqHandler = (vector: number) => void;

interface VectorEntry {
  readonly owner: string;
  handler: IrqHandler | undefined;
  count: number;
}

export class IrqTable {
  private readonly entries = new Map<number, VectorEntry>();
  spurious = 0;
  /** Called when a handler throws: a driver bug must not take the kernel down. */
  onHandlerError: (vector: number, owner: string, err: unknown) => void = () => {};

  /** Reserve `n` free vectors for `owner`; throws when the table is full (a kernel resource limit). */
  allocate(n: number, owner: string): number[] {
    const out: number[] = [];
    for (let v = FIRST_VECTOR; v <= LAST_VECTOR && out.length < n; v++) {
      if (!this.entries.has(v)) out.push(v);
    }
    if (out.length < n) throw new Error(`no free interrupt vectors for ${owner} (need ${n})`);
    for (const v of out) this.entries.set(v, { owner, handler: undefined, count: 0 });
    return out;
  }

  setHandler(vector: number, handler: IrqHandler): void {
    const e = this.entries.get(vector);
    if (!e) throw new Error(`vector ${vector} is not allocated`);
    e.handler = handler;
  }

  free(vectors: readonly number[]): void {
    for (const v of vectors) this.entries.delete(v);
  }

  dispatch(vector: number): void {
    const e = this.entries.get(vector);
    if (!e?.handler) {
      this.spurious++;
      return;
    }
    e.count++;
    try {
      e.handler(vector);
    } catch (err) {
      this.onHandlerError(vector, e.owner, err);
    }
  }

  /** Rows for an /proc/interrupts-like listing. */
  snapshot(): { vector: number; owner: string; count: number }[] {
    return [...this.entries].sort((a, b) => a[0] - b[0]).map(([vector, e]) => ({ vector, owner: e.owner, count: e.count }));
  }
}

// Seeded randomness for the fuzzers (mulberry32): a finding is replayed from its target, seed and iteration.
export class Rng {
  private a: number;
  constructor(seed: number) { this.a = seed >>> 0; }

  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let x = this.a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 0x1_0000_0000;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  u8(): number { return this.int(0x100); }
  u16(): number { return this.int(0x1_0000); }
  u32(): number { return this.int(0x1_0000_0000); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('Rng.pick from an empty list');
    return x;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u8();
    return b;
  }
  /** A u32 that is "interesting" more often than uniform: 0, 1, all-ones, powers of two and their neighbours. */
  edgyU32(): number {
    const r = this.next();
    if (r < 0.4) return this.u32();
    if (r < 0.55) return this.pick([0, 1, 0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff, 0x1_0000, 16, 15, 17]);
    const p = 2 ** this.int(32);
    return (p + this.pick([-1, 0, 1])) >>> 0;
  }
  /** Mutate a copy of `b`: bit flips, byte sets, interesting u32 overwrites, truncation, extension. */
  mutate(b: Uint8Array, rounds = 1 + this.int(4)): Uint8Array {
    let out: Uint8Array = b.slice();
    for (let i = 0; i < rounds; i++) {
      const op = this.int(6);
      if (out.length === 0) { out = this.bytes(1 + this.int(32)); continue; }
      const at = this.int(out.length);
      if (op === 0) out[at] = (out[at] ?? 0) ^ (1 << this.int(8));
      else if (op === 1) out[at] = this.u8();
      else if (op === 2 && out.length >= 4) new DataView(out.buffer, out.byteOffset).setUint32(this.int(out.length - 3), this.edgyU32(), true);
      else if (op === 3) out = out.slice(0, at);
      else if (op === 4) { const ext = new Uint8Array(out.length + 1 + this.int(64)); ext.set(out); ext.set(this.bytes(ext.length - out.length), out.length); out = ext; }
      else out.fill(this.pick([0, 0xff]), at, Math.min(out.length, at + 1 + this.int(16)));
    }
    return out;
  }
}

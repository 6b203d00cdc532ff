// Binary layouts, declared once: the only module that imports buffer-layout. Every spec structure (BAR register
// blocks, SQE/CQE, link frame header, virtq descriptors, NBD headers…) is declared here with `defineStruct`, and the
// offsets it derives are what hot paths pass to DataView. buffer-layout's own encode/decode costs microseconds, so it
// is used to declare and to check, never on a hot path. 64-bit fields are split into lo/hi u32 halves or read as bigint.
import { createRequire } from 'node:module';

/** The part of buffer-layout 1.2.2 this project uses (it ships no types). */
interface BlLayout {
  readonly span: number;
  readonly property?: string;
}
interface BlStructure extends BlLayout {
  offsetOf(property: string): number | undefined;
  readonly fields: BlLayout[];
  decode(b: Buffer, offset?: number): Record<string, unknown>;
  encode(src: Record<string, unknown>, b: Buffer, offset?: number): number;
}
interface BufferLayoutModule {
  u8(property?: string): BlLayout;
  u16(property?: string): BlLayout;
  u32(property?: string): BlLayout;
  u16be(property?: string): BlLayout;
  u32be(property?: string): BlLayout;
  blob(length: number, property?: string): BlLayout;
  struct(fields: BlLayout[], property?: string): BlStructure;
}
const BufferLayout = createRequire(import.meta.url)('buffer-layout') as BufferLayoutModule;

/** Field kinds. `u64`/`u64be` are declared as 8-byte blobs and accessed as bigint or lo/hi halves. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'u16be' | 'u32be' | 'u64be' | { bytes: number };

export interface StructDef<N extends string> {
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Byte offset of every named field, derived from the declaration order. */
  readonly offset: Readonly<Record<N, number>>;
  /** Size in bytes of every named field. */
  readonly sizeOf: Readonly<Record<N, number>>;
  /** The underlying buffer-layout structure (for tests and cold-path decoding only). */
  readonly layout: BlStructure;
}

function toLayout(kind: FieldKind, name: string): BlLayout {
  if (typeof kind === 'object') return BufferLayout.blob(kind.bytes, name);
  switch (kind) {
    case 'u8': return BufferLayout.u8(name);
    case 'u16': return BufferLayout.u16(name);
    case 'u32': return BufferLayout.u32(name);
    case 'u16be': return BufferLayout.u16be(name);
    case 'u32be': return BufferLayout.u32be(name);
    case 'u64':
    case 'u64be': return BufferLayout.blob(8, name);
  }
}

/**
 * Declare a structure as an ordered list of [name, kind] pairs; offsets follow from the order.
 * Reserved gaps are declared as `{ bytes: n }` fields named `rsvdN`.
 * If `expectSize` is given the declaration is checked against it at module load (a broken invariant throws).
 */
export function defineStruct<const F extends readonly (readonly [string, FieldKind])[]>(
  name: string,
  fields: F,
  expectSize?: number,
): StructDef<F[number][0]> {
  const layout = BufferLayout.struct(fields.map(([n, k]) => toLayout(k, n)), name);
  const offset = {} as Record<string, number>;
  const sizeOf = {} as Record<string, number>;
  for (const [n] of fields) {
    const off = layout.offsetOf(n);
    if (off === undefined) throw new Error(`layout ${name}: no offset for ${n}`);
    offset[n] = off;
  }
  for (const f of layout.fields) if (f.property !== undefined) sizeOf[f.property] = f.span;
  if (expectSize !== undefined && layout.span !== expectSize) {
    throw new Error(`layout ${name}: size ${layout.span} != spec size ${expectSize}`);
  }
  return { name, size: layout.span, offset, sizeOf, layout } as StructDef<F[number][0]>;
}

/** A DataView over any Uint8Array (no copy). */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Read a little-endian u64 as a number when it fits in 2^53, else as NaN-free Infinity marker (-1). */
export function readU64Number(v: DataView, off: number): number {
  const lo = v.getUint32(off, true);
  const hi = v.getUint32(off + 4, true);
  if (hi >= 0x200000) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** Write a non-negative integer (≤ 2^53) as a little-endian u64. */
export function writeU64Number(v: DataView, off: number, value: number): void {
  v.setUint32(off, value >>> 0, true);
  v.setUint32(off + 4, Math.floor(value / 0x1_0000_0000) >>> 0, true);
}

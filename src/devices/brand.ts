// Branded addresses and units, so a guest-physical address cannot be passed where an IOVA or an LBA is meant.
// Each has one validating constructor; all are plain numbers at run time (exact below 2^53).
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Guest-physical address. */
export type Gpa = Brand<number, 'Gpa'>;
/** I/O virtual address: what a device puts on the bus; the IOMMU translates it to a Gpa. */
export type Iova = Brand<number, 'Iova'>;
/** Offset inside a BAR. */
export type BarOffset = Brand<number, 'BarOffset'>;
/** Logical block address. */
export type Lba = Brand<number, 'Lba'>;
/** NVMe queue identifier (0 = admin). */
export type QueueId = Brand<number, 'QueueId'>;
/** PCI function number on the link (the card's routing id for a virtual function). */
export type FnId = Brand<number, 'FnId'>;

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} out of range 0..${max}`);
}
export const gpa = (v: number): Gpa => (checkInt('Gpa', v, Number.MAX_SAFE_INTEGER), v as Gpa);
export const iova = (v: number): Iova => (checkInt('Iova', v, Number.MAX_SAFE_INTEGER), v as Iova);
export const barOffset = (v: number): BarOffset => (checkInt('BarOffset', v, 0xffff_ffff), v as BarOffset);
export const lba = (v: number): Lba => (checkInt('Lba', v, Number.MAX_SAFE_INTEGER), v as Lba);
export const queueId = (v: number): QueueId => (checkInt('QueueId', v, 0xffff), v as QueueId);
export const fnId = (v: number): FnId => (checkInt('FnId', v, 0xfffe), v as FnId);

/** Throws at once: a broken emulator invariant, or a switch that missed a case. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}

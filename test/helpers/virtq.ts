// Driver side of a split virtqueue for device tests: the implementation lives in src/conformance/virtq.ts (the
// conformance suite drives virtio functions with it too); FakeHost is a GuestMemory.
export { GuestVirtq, writeDesc, type BuiltChain, type DescSpec, type GuestMemory, type SegSpec } from '../../src/conformance/virtq.ts';

/** A small deterministic PRNG (mulberry32) for seeded smoke tests. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

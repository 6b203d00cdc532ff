// Codec: frame round trips, and the streaming decoder on partial, batched, oversize and garbage streams.
import t from 'tap';
import { FrameDecoder, HEADER_SIZE, decodeFrame, encodeFrame, payloadLength } from '../../../../src/devices/pcie/link/codec.ts';
import { LinkCmd, LinkFlag, type Frame } from '../../../../src/devices/pcie/link/messages.ts';
import type { OversizeFrame } from '../../../../src/devices/pcie/link/codec.ts';

function collect(maxPayload?: number): { d: FrameDecoder; frames: Frame[]; oversize: OversizeFrame[]; errors: string[] } {
  const frames: Frame[] = [];
  const oversize: OversizeFrame[] = [];
  const errors: string[] = [];
  const d = new FrameDecoder({ frame: (f) => frames.push(f), oversize: (h) => oversize.push(h), protocolError: (r) => errors.push(r) }, maxPayload);
  return { d, frames, oversize, errors };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(payloadLength(parts));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/** Deterministic pseudo-random generator (xorshift32) for chunk splits. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x1_0000_0000; };
}

const sample = [
  { msgId: 1, cmd: LinkCmd.REGION_READ, fn: 3, flags: 0, error: 0, payload: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]) },
  { msgId: 2, cmd: LinkCmd.PING, fn: 0xffff, flags: 0, error: 0, payload: new Uint8Array(0) },
  { msgId: 0xfffffffe, cmd: LinkCmd.DMA_WRITE, fn: 7, flags: LinkFlag.NO_REPLY, error: 0, payload: new Uint8Array(300).map((_, i) => i) },
  { msgId: 9, cmd: LinkCmd.REGION_READ, fn: 3, flags: LinkFlag.REPLY | LinkFlag.ERROR, error: 14, payload: new Uint8Array(0) },
];

t.test('a frame encodes little-endian at the FrameHeader offsets and decodes back', async (t) => {
  const b = encodeFrame({ msgId: 0x01020304, cmd: 0x000a, fn: 0x0102, flags: LinkFlag.NO_REPLY, error: 0, payload: new Uint8Array([0xaa, 0xbb]) });
  t.same([...b], [0x04, 0x03, 0x02, 0x01, 0x0a, 0x00, 0x02, 0x01, 18, 0, 0, 0, 0x02, 0x00, 0x00, 0x00, 0xaa, 0xbb]);
  const f = decodeFrame(b);
  t.same({ ...f, payload: [...f.payload] }, { msgId: 0x01020304, cmd: 0x000a, fn: 0x0102, flags: LinkFlag.NO_REPLY, error: 0, payload: [0xaa, 0xbb] });
});

t.test('a payload given as parts is concatenated on the wire', async (t) => {
  const b = encodeFrame({ msgId: 1, cmd: 1, fn: 0, flags: 0, error: 0, payload: [new Uint8Array([1, 2]), new Uint8Array([3])] });
  t.same([...decodeFrame(b).payload], [1, 2, 3]);
});

t.test('decodeFrame rejects a buffer whose size field disagrees', async (t) => {
  const b = encodeFrame(sample[0] as Frame);
  t.throws(() => decodeFrame(b.subarray(0, 20)), RangeError);
  t.throws(() => decodeFrame(b.subarray(0, 10)), RangeError);
});

t.test('many frames in one chunk decode in order as views of that chunk (no copy)', async (t) => {
  const { d, frames } = collect();
  const stream = concat(sample.map((f) => encodeFrame(f)));
  d.push(stream);
  t.equal(frames.length, sample.length);
  for (const [i, f] of frames.entries()) {
    t.same({ ...f, payload: [...f.payload] }, { ...sample[i], payload: [...(sample[i] as Frame).payload] });
    t.equal(f.payload.buffer, stream.buffer, `frame ${i} is a view of the chunk`);
  }
});

t.test('the same stream fed one byte at a time and in random splits gives the same frames', async (t) => {
  const stream = concat(sample.map((f) => encodeFrame(f)));
  const one = collect();
  for (let i = 0; i < stream.length; i++) one.d.push(stream.slice(i, i + 1));
  t.equal(one.frames.length, sample.length);
  const next = rng(42);
  for (let round = 0; round < 50; round++) {
    const r = collect();
    let at = 0;
    while (at < stream.length) {
      const n = 1 + Math.floor(next() * 40);
      r.d.push(stream.slice(at, at + n));
      at += n;
    }
    t.same(r.frames.map((f) => [f.msgId, [...f.payload]]), sample.map((f) => [f.msgId, [...f.payload]]), `round ${round}`);
  }
});

t.test('a frame assembled across chunks is not overwritten by later chunks', async (t) => {
  const { d, frames } = collect();
  const a = encodeFrame(sample[2] as Frame);
  const b = encodeFrame(sample[0] as Frame);
  d.push(a.slice(0, 100));
  d.push(concat([a.slice(100), b.slice(0, 5)]));
  const kept = [...(frames[0] as Frame).payload];
  d.push(b.slice(5));
  t.same([...(frames[0] as Frame).payload], kept);
  t.equal(frames.length, 2);
});

t.test('an oversize frame is reported with its msgId and skipped; the next frame still decodes', async (t) => {
  const { d, frames, oversize, errors } = collect(64);
  const big = encodeFrame({ msgId: 77, cmd: LinkCmd.DMA_WRITE, fn: 2, flags: LinkFlag.NO_REPLY, error: 0, payload: new Uint8Array(1000).fill(0xee) });
  const after = encodeFrame(sample[0] as Frame);
  const stream = concat([big, after]);
  // Split inside the big header, inside its payload, and across the boundary to the next frame.
  d.push(stream.slice(0, 7));
  d.push(stream.slice(7, 500));
  d.push(stream.slice(500, big.length + 3));
  d.push(stream.slice(big.length + 3));
  t.same(oversize, [{ msgId: 77, cmd: LinkCmd.DMA_WRITE, fn: 2, flags: LinkFlag.NO_REPLY, size: 1000 + HEADER_SIZE }]);
  t.same(frames.map((f) => f.msgId), [1]);
  t.same(errors, []);
});

t.test('an oversize frame entirely inside one chunk is skipped too', async (t) => {
  const { d, frames, oversize } = collect(16);
  d.push(concat([encodeFrame({ msgId: 5, cmd: 1, fn: 0, flags: 0, error: 0, payload: new Uint8Array(17) }), encodeFrame(sample[1] as Frame)]));
  t.equal(oversize.length, 1);
  t.same(frames.map((f) => f.msgId), [2]);
});

t.test('a size field below 16 is a protocol error and the decoder stops', async (t) => {
  const { d, frames, errors } = collect();
  const garbage = new Uint8Array(32).fill(0);
  garbage[8] = 8; // size = 8
  d.push(concat([encodeFrame(sample[1] as Frame), garbage]));
  t.equal(frames.length, 1);
  t.equal(errors.length, 1);
  t.ok(d.failed);
  d.push(encodeFrame(sample[0] as Frame));
  t.equal(frames.length, 1, 'nothing decodes after a protocol error');
});

// Link frame codec (docs/link-protocol.md §2): DataView encode/decode at the FrameHeader offsets, and a streaming
// decoder for byte streams (socket or shm ring) that copes with partial frames, many frames per chunk, oversize
// frames (skipped without buffering, reported as EMSGSIZE) and garbage (size < 16: protocol error).
import { viewOf } from '../../layout.ts';
import { FrameHeader, MAX_PAYLOAD, type Frame } from './messages.ts';

export const HEADER_SIZE = FrameHeader.size;
const O = FrameHeader.offset;
const DEAD = -1;
const OVERSIZE = -2;

/** A payload as one buffer or as parts that are concatenated on the wire (lets callers avoid a gather copy). */
export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadLength(p: Payload): number {
  if (p instanceof Uint8Array) return p.byteLength;
  let n = 0;
  for (const part of p) n += part.byteLength;
  return n;
}

/** Write a 16-byte header at `at`. */
export function writeHeader(
  v: DataView, at: number, msgId: number, cmd: number, fn: number, size: number, flags: number, error: number,
): void {
  v.setUint32(at + O.msgId, msgId >>> 0, true);
  v.setUint16(at + O.cmd, cmd, true);
  v.setUint16(at + O.fn, fn, true);
  v.setUint32(at + O.size, size >>> 0, true);
  v.setUint16(at + O.flags, flags, true);
  v.setUint16(at + O.error, error, true);
}

/** Copy a payload into `dst` at `at`; returns the offset after it. */
export function writePayload(dst: Uint8Array, at: number, p: Payload): number {
  if (p instanceof Uint8Array) {
    dst.set(p, at);
    return at + p.byteLength;
  }
  for (const part of p) {
    dst.set(part, at);
    at += part.byteLength;
  }
  return at;
}

/** Encode a whole frame into a new buffer (cold paths and tests; the peer encodes into its own slab). */
export function encodeFrame(f: Omit<Frame, 'payload'> & { payload?: Payload }): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const size = HEADER_SIZE + payloadLength(payload);
  const out = new Uint8Array(size);
  writeHeader(viewOf(out), 0, f.msgId, f.cmd, f.fn, size, f.flags, f.error);
  writePayload(out, HEADER_SIZE, payload);
  return out;
}

/** Decode exactly one frame from `b` (tests and cold paths). Throws on a malformed buffer. */
export function decodeFrame(b: Uint8Array): Frame {
  if (b.byteLength < HEADER_SIZE) throw new RangeError(`frame of ${b.byteLength} bytes is shorter than its header`);
  const v = viewOf(b);
  const size = v.getUint32(O.size, true);
  if (size !== b.byteLength) throw new RangeError(`frame size field ${size} != buffer length ${b.byteLength}`);
  return {
    msgId: v.getUint32(O.msgId, true), cmd: v.getUint16(O.cmd, true), fn: v.getUint16(O.fn, true),
    flags: v.getUint16(O.flags, true), error: v.getUint16(O.error, true), payload: b.subarray(HEADER_SIZE),
  };
}

/** What an oversize frame looked like; its payload bytes are skipped. */
export interface OversizeFrame {
  msgId: number;
  cmd: number;
  fn: number;
  flags: number;
  size: number;
}

export interface DecoderSink {
  frame(f: Frame): void;
  /** A frame larger than HEADER_SIZE + maxPayload: its bytes are being skipped. */
  oversize(h: OversizeFrame): void;
  /** The stream cannot be framed any more (size < 16): the owner must close the link. */
  protocolError(reason: string): void;
}

/**
 * Streaming decoder. Chunks are owned by the decoder once pushed (the caller must not reuse them): frames that lie
 * inside one chunk are views into it (no copy); a frame split across chunks is assembled in a buffer allocated for
 * that frame alone, so no payload handed out is ever overwritten. Header bytes split across chunks go through one
 * reused 16-byte stash.
 */
export class FrameDecoder {
  private readonly stash = new Uint8Array(HEADER_SIZE);
  private readonly stashView = viewOf(this.stash);
  private stashLen = 0;
  /** Frame being assembled across chunks. */
  private partial: Uint8Array | undefined;
  private partialLen = 0;
  private partialHdr: Omit<Frame, 'payload'> = { msgId: 0, cmd: 0, fn: 0, flags: 0, error: 0 };
  /** Bytes of an oversize frame still to skip. */
  private skip = 0;
  private dead = false;

  constructor(private readonly sink: DecoderSink, private readonly maxPayload = MAX_PAYLOAD) {}

  get failed(): boolean { return this.dead; }

  push(chunk: Uint8Array): void {
    let at = 0;
    const end = chunk.byteLength;
    let v: DataView | undefined;
    while (at < end && !this.dead) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - at);
        this.skip -= n;
        at += n;
        continue;
      }
      if (this.partial !== undefined) {
        const n = Math.min(this.partial.byteLength - this.partialLen, end - at);
        this.partial.set(chunk.subarray(at, at + n), this.partialLen);
        this.partialLen += n;
        at += n;
        if (this.partialLen === this.partial.byteLength) {
          const payload = this.partial;
          this.partial = undefined;
          this.emit(payload);
        }
        continue;
      }
      if (this.stashLen > 0 || end - at < HEADER_SIZE) {
        const n = Math.min(HEADER_SIZE - this.stashLen, end - at);
        this.stash.set(chunk.subarray(at, at + n), this.stashLen);
        this.stashLen += n;
        at += n;
        if (this.stashLen < HEADER_SIZE) continue;
        this.stashLen = 0;
        const size = this.header(this.stashView, 0);
        if (size === DEAD) return;
        if (size === OVERSIZE) { this.skip -= HEADER_SIZE; continue; } // header already consumed
        const body = size - HEADER_SIZE;
        if (body === 0) this.emit(new Uint8Array(0));
        else { this.partial = new Uint8Array(body); this.partialLen = 0; }
        continue;
      }
      v ??= viewOf(chunk);
      const size = this.header(v, at);
      if (size === DEAD) return;
      if (size === OVERSIZE) continue; // skip counts from the header's start
      if (end - at >= size) {
        this.emit(chunk.subarray(at + HEADER_SIZE, at + size));
        at += size;
      } else {
        const body = size - HEADER_SIZE;
        this.partial = new Uint8Array(body);
        this.partialLen = end - at - HEADER_SIZE;
        this.partial.set(chunk.subarray(at + HEADER_SIZE, end));
        at = end;
      }
    }
  }

  /** Hand one frame to the sink: a fresh object per frame (handlers may keep it), built as a literal — an object spread
   *  of partialHdr cost ~6% of the card thread at 4 KiB qd32. */
  private emit(payload: Uint8Array): void {
    const h = this.partialHdr;
    this.sink.frame({ msgId: h.msgId, cmd: h.cmd, fn: h.fn, flags: h.flags, error: h.error, payload });
  }

  /** Parse a header into partialHdr and classify it: the frame size, DEAD (stream unusable) or OVERSIZE (reported;
   *  the caller arranges to skip `size` bytes from the header's start). */
  private header(v: DataView, at: number): number {
    const size = v.getUint32(at + O.size, true);
    const h = this.partialHdr;
    h.msgId = v.getUint32(at + O.msgId, true);
    h.cmd = v.getUint16(at + O.cmd, true);
    h.fn = v.getUint16(at + O.fn, true);
    h.flags = v.getUint16(at + O.flags, true);
    h.error = v.getUint16(at + O.error, true);
    if (size < HEADER_SIZE) {
      this.dead = true;
      this.sink.protocolError(`frame size ${size} is smaller than the ${HEADER_SIZE}-byte header`);
      return DEAD;
    }
    if (size - HEADER_SIZE > this.maxPayload) {
      this.skip = size;
      this.sink.oversize({ msgId: h.msgId, cmd: h.cmd, fn: h.fn, flags: h.flags, size });
      return OVERSIZE;
    }
    return size;
  }
}

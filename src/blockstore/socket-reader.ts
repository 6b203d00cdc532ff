// Exact-length reads over a stream socket: NBD is a framed byte stream, so both peers read "exactly n bytes" at a
// time. Buffers what arrives, pauses the socket above a high-water mark, and fails every waiter when the peer goes.
import type { Socket } from 'node:net';

/** The peer closed the stream (or it errored) before the bytes asked for arrived. */
export class StreamClosed extends Error {
  constructor(message = 'stream closed') {
    super(message);
    this.name = 'StreamClosed';
  }
}

interface Waiter {
  n: number;
  into: Uint8Array | null;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiter: Waiter | null = null;
  private closed: Error | null = null;
  private paused = false;

  constructor(private readonly socket: Socket, private readonly highWater = 64 * 1024 * 1024) {
    socket.on('data', (c: Buffer) => this.push(c));
    socket.on('end', () => this.fail(new StreamClosed('peer ended the stream')));
    socket.on('close', () => this.fail(new StreamClosed('socket closed')));
    socket.on('error', (e) => this.fail(new StreamClosed(`socket error: ${e.message}`)));
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.available;
  }

  /** Resolve with exactly `n` bytes (one contiguous Buffer). */
  readExact(n: number): Promise<Buffer> {
    return this.wait(n, null);
  }

  /** Fill `dst` completely from the stream (one copy, no intermediate Buffer). */
  async readInto(dst: Uint8Array): Promise<void> {
    await this.wait(dst.length, dst);
  }

  /** Consume and drop `n` bytes without holding them all in memory at once. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const step = Math.min(left, 1 << 20);
      await this.readExact(step);
      left -= step;
    }
  }

  private wait(n: number, into: Uint8Array | null): Promise<Buffer> {
    if (this.waiter !== null) throw new Error('SocketReader: concurrent reads are a caller bug');
    if (this.available >= n) return Promise.resolve(this.take(n, into));
    if (this.closed !== null) return Promise.reject(this.closed);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiter = { n, into, resolve, reject };
      this.resume();
    });
  }

  private push(c: Buffer): void {
    this.chunks.push(c);
    this.available += c.length;
    const w = this.waiter;
    if (w !== null && this.available >= w.n) {
      this.waiter = null;
      w.resolve(this.take(w.n, w.into));
    }
    if (this.available > this.highWater && this.waiter === null && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private fail(e: Error): void {
    if (this.closed !== null) return;
    this.closed = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }

  private take(n: number, into: Uint8Array | null): Buffer {
    this.available -= n;
    const first = this.chunks[0];
    if (into === null && first !== undefined && first.length >= n) {
      // Fast path: the bytes sit in one chunk.
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      if (this.available <= this.highWater) this.resume();
      return out;
    }
    const out = into ?? Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      if (c === undefined) throw new Error('SocketReader: accounting broken');
      const step = Math.min(c.length, n - off);
      out.set(c.subarray(0, step), off);
      off += step;
      if (step === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(step);
    }
    if (this.available <= this.highWater) this.resume();
    return into === null ? (out as Buffer) : Buffer.alloc(0);
  }
}

// A BlockBackend on a sparse file (instance store, and the walking skeleton of EBS): fs.promises FileHandle, the file
// truncated to the volume size, fdatasync for flush and FUA.
// Node has no fallocate(PUNCH_HOLE), so discard writes zeros: deallocated blocks read as zeros as Identify Namespace
// DLFEAT promises, but the space is not returned to the file system.
import { open, type FileHandle } from 'node:fs/promises';
import { BackendError, type BlockBackend } from '../../devices/nvme/backend.ts';

/** Zeros written per call by writeZeroes/discard. */
const ZERO_CHUNK = 1 << 20;

export interface FileBackendOptions {
  /** Volume size in bytes; the file is created or truncated (grown sparsely or cut) to exactly this size. */
  readonly sizeBytes: number;
  /** Keep existing contents (default true); false starts from an empty file. */
  readonly keep?: boolean;
}

export class FileBackend implements BlockBackend {
  private static zeros: Uint8Array | null = null;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly sizeBytes: number,
  ) {}

  /** Open (creating if needed) `path` as a volume of `sizeBytes` bytes. */
  static async open(path: string, opts: FileBackendOptions): Promise<FileBackend> {
    if (!Number.isSafeInteger(opts.sizeBytes) || opts.sizeBytes <= 0) {
      throw new BackendError('range', `volume size ${opts.sizeBytes} is not a positive integer`);
    }
    let fh: FileHandle;
    if (opts.keep === false) fh = await open(path, 'w+');
    else {
      try { fh = await open(path, 'r+'); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fh = await open(path, 'w+');
      }
    }
    await fh.truncate(opts.sizeBytes);
    return new FileBackend(fh, path, opts.sizeBytes);
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new BackendError('unavailable', `${this.path} is closed`);
    if (offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new BackendError('range', `range ${offset}+${length} beyond volume size ${this.sizeBytes}`);
    }
  }

  private static zeroChunk(): Uint8Array {
    return (FileBackend.zeros ??= new Uint8Array(ZERO_CHUNK));
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.check(offset, dst.byteLength);
    let done = 0;
    try {
      while (done < dst.byteLength) {
        const { bytesRead } = await this.fh.read(dst, done, dst.byteLength - done, offset + done);
        if (bytesRead === 0) { dst.fill(0, done); return; } // past EOF of a sparse tail: zeros
        done += bytesRead;
      }
    } catch (e) {
      throw new BackendError('io', `read ${this.path} @${offset}: ${String(e)}`);
    }
  }

  async write(offset: number, src: Uint8Array, fua: boolean): Promise<void> {
    this.check(offset, src.byteLength);
    try {
      let done = 0;
      while (done < src.byteLength) {
        const { bytesWritten } = await this.fh.write(src, done, src.byteLength - done, offset + done);
        done += bytesWritten;
      }
      if (fua) await this.fh.datasync();
    } catch (e) {
      throw new BackendError('io', `write ${this.path} @${offset}: ${String(e)}`);
    }
  }

  async flush(): Promise<void> {
    if (this.closed) throw new BackendError('unavailable', `${this.path} is closed`);
    try { await this.fh.datasync(); } catch (e) {
      throw new BackendError('io', `fdatasync ${this.path}: ${String(e)}`);
    }
  }

  /** Deallocate: written as zeros (no hole punching in Node), so later reads return zeros. */
  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length, false);
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.check(offset, length);
    const zeros = FileBackend.zeroChunk();
    try {
      for (let done = 0; done < length;) {
        const n = Math.min(ZERO_CHUNK, length - done);
        const { bytesWritten } = await this.fh.write(zeros, 0, n, offset + done);
        done += bytesWritten;
      }
      if (fua) await this.fh.datasync();
    } catch (e) {
      throw new BackendError('io', `write zeroes ${this.path} @${offset}: ${String(e)}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

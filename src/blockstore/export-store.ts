// The block store's exports on disk: one sparse file `<dir>/<name>.img` per volume plus `<name>.json` metadata
// (size, creation time), so exports survive a restart. Durability: datasync() is fdatasync on the shared handle.
import { open, readdir, readFile, rename, unlink, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';

/** Export names are volume ids; the pattern also keeps them safe as file names. */
export const VOLUME_ID = /^vol-[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
/** Sizes are whole 512-byte sectors and fit in a JavaScript number exactly. */
export const SECTOR = 512;
export const MAX_EXPORT_BYTES = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR) * SECTOR;

const ERRORS = {
  'invalid-name': 400,
  'invalid-size': 400,
  exists: 409,
  'not-found': 404,
} as const;

/** Configuration errors of the block store, with a stable code and the HTTP status an API would map it to. */
export class BlockStoreError extends Error {
  readonly code: keyof typeof ERRORS;
  readonly status: number;
  constructor(code: keyof typeof ERRORS, message: string) {
    super(message);
    this.name = 'BlockStoreError';
    this.code = code;
    this.status = ERRORS[code];
  }
}

export interface ExportInfo {
  readonly name: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
}

const ZERO_CHUNK = Buffer.alloc(1 << 20);
/** Ranges at least this large are deallocated with fallocate(1) rather than written with zeros. */
export const PUNCH_MIN_BYTES = 1 << 20;
let punchToolMissing = false;

/** One open export: positional I/O on a file handle shared by every connection (so a FLUSH covers all of them). */
export class ExportFile {
  constructor(readonly info: ExportInfo, readonly path: string, private readonly fh: FileHandle) {}

  get sizeBytes(): number {
    return this.info.sizeBytes;
  }

  /** Fill `dst` from `offset`; bytes beyond the end of the file read as zeros. */
  async read(offset: number, dst: Buffer): Promise<void> {
    let done = 0;
    while (done < dst.length) {
      const { bytesRead } = await this.fh.read(dst, done, dst.length - done, offset + done);
      if (bytesRead === 0) { dst.fill(0, done); return; }
      done += bytesRead;
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    let done = 0;
    while (done < src.length) {
      const { bytesWritten } = await this.fh.write(src, done, src.length - done, offset + done);
      done += bytesWritten;
    }
  }

  /**
   * Make [offset, offset+length) read as zeros. With `mayDeallocate` and a large range the blocks are released
   * (fallocate --punch-hole: Node has no fallocate of its own); otherwise, or if that fails, zeros are written.
   */
  async zeroRange(offset: number, length: number, mayDeallocate: boolean): Promise<'punched' | 'written'> {
    if (mayDeallocate && length >= PUNCH_MIN_BYTES && !punchToolMissing && await this.punchHole(offset, length)) return 'punched';
    await this.writeZeroes(offset, length);
    return 'written';
  }

  private punchHole(offset: number, length: number): Promise<boolean> {
    const args = ['--punch-hole', '--offset', String(offset), '--length', String(length), this.path];
    return new Promise((resolve) => {
      execFile('fallocate', args, { timeout: 60_000 }, (err) => {
        if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') punchToolMissing = true;
        resolve(err === null);
      });
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const step = Math.min(ZERO_CHUNK.length, length - done);
      await this.write(offset + done, ZERO_CHUNK.subarray(0, step));
      done += step;
    }
  }

  /** fdatasync: every write completed before this call is on stable storage when it resolves. */
  async datasync(): Promise<void> {
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class ExportStore {
  private readonly exports = new Map<string, ExportFile>();

  private constructor(readonly dir: string) {}

  /** Open (creating if needed) the store directory and every export recorded in it. */
  static async open(dir: string, onSkip?: (file: string, reason: string) => void): Promise<ExportStore> {
    await mkdir(dir, { recursive: true });
    const store = new ExportStore(dir);
    for (const f of (await readdir(dir)).sort()) {
      if (!f.endsWith('.json')) continue;
      try {
        const info = parseInfo(JSON.parse(await readFile(join(dir, f), 'utf8')));
        if (`${info.name}.json` !== f) throw new Error('name does not match the file name');
        const fh = await open(store.imagePath(info.name), 'r+');
        store.exports.set(info.name, new ExportFile(info, store.imagePath(info.name), fh));
      } catch (e) {
        onSkip?.(f, (e as Error).message);
      }
    }
    return store;
  }

  imagePath(name: string): string {
    return join(this.dir, `${name}.img`);
  }

  list(): ExportInfo[] {
    return [...this.exports.values()].map((e) => e.info);
  }

  get(name: string): ExportFile | undefined {
    return this.exports.get(name);
  }

  async create(name: string, sizeBytes: number): Promise<ExportInfo> {
    if (!VOLUME_ID.test(name)) throw new BlockStoreError('invalid-name', `Export name "${name}" is not a volume id (vol-…)`);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR !== 0 || sizeBytes > MAX_EXPORT_BYTES) {
      throw new BlockStoreError('invalid-size', `Export size ${sizeBytes} is not a positive multiple of ${SECTOR}`);
    }
    if (this.exports.has(name)) throw new BlockStoreError('exists', `Export ${name} already exists`);
    const info: ExportInfo = { name, sizeBytes, createdAt: new Date().toISOString() };
    const fh = await open(this.imagePath(name), 'w+');
    try {
      await fh.truncate(sizeBytes); // sparse: no blocks allocated
      await fh.sync();
      const tmp = join(this.dir, `${name}.json.tmp`);
      await writeFile(tmp, JSON.stringify(info, null, 2) + '\n', { flush: true });
      await rename(tmp, join(this.dir, `${name}.json`));
      await syncDir(this.dir);
    } catch (e) {
      await fh.close();
      throw e;
    }
    this.exports.set(name, new ExportFile(info, this.imagePath(name), fh));
    return info;
  }

  /** Remove the metadata first: a crash half-way leaves an orphan image, never an export without data. */
  async delete(name: string): Promise<void> {
    const e = this.exports.get(name);
    if (e === undefined) throw new BlockStoreError('not-found', `Export ${name} does not exist`);
    this.exports.delete(name);
    await unlink(join(this.dir, `${name}.json`));
    await syncDir(this.dir);
    await e.close();
    await unlink(this.imagePath(name));
  }

  async close(): Promise<void> {
    const all = [...this.exports.values()];
    this.exports.clear();
    await Promise.all(all.map((e) => e.close()));
  }
}

function parseInfo(raw: unknown): ExportInfo {
  const o = raw as Partial<Record<keyof ExportInfo, unknown>>;
  if (typeof o.name !== 'string' || !VOLUME_ID.test(o.name)) throw new Error('bad name');
  if (typeof o.sizeBytes !== 'number' || !Number.isSafeInteger(o.sizeBytes) || o.sizeBytes <= 0) throw new Error('bad size');
  return { name: o.name, sizeBytes: o.sizeBytes, createdAt: typeof o.createdAt === 'string' ? o.createdAt : '' };
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

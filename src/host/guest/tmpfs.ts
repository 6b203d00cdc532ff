// A RAM file system for the shell (/tmp and friends): whole-file byte arrays, enough for dd, cmp and sha256sum.

export class TmpFs {
  private readonly files = new Map<string, Uint8Array>();

  static isFilePath(path: string): boolean {
    return path.startsWith('/') && !path.startsWith('/dev/') && !path.startsWith('/proc/') && !path.endsWith('/');
  }

  read(path: string): Uint8Array | undefined { return this.files.get(path); }

  write(path: string, data: Uint8Array): void {
    if (!TmpFs.isFilePath(path)) throw new Error(`${path}: not a regular file path`);
    this.files.set(path, data);
  }

  /** Write `data` at byte `offset`, growing the file (holes read as zeros). */
  writeAt(path: string, offset: number, data: Uint8Array): void {
    const old = this.files.get(path) ?? new Uint8Array(0);
    const size = Math.max(old.length, offset + data.length);
    const next = size === old.length ? old : new Uint8Array(size);
    if (next !== old) next.set(old);
    next.set(data, offset);
    this.write(path, next);
  }

  remove(path: string): boolean { return this.files.delete(path); }

  list(): [string, number][] {
    return [...this.files].map(([p, d]): [string, number] => [p, d.length]).sort((a, b) => a[0].localeCompare(b[0]));
  }
}

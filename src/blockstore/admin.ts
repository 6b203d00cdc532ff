// What the control plane does to the block store: create and delete a volume's export, snapshot it, and create a
// volume from a snapshot. The control plane owns volume lifecycles; cards only connect to exports.
//
// Snapshots are full copies (`<dir>/snapshots/<snap-…>.img`), made with copy_file_range/FICLONE (COPYFILE_FICLONE),
// so on a file system with reflinks (btrfs, XFS) a snapshot and a volume created from it share blocks until written
// (copy-on-write done by the file system), and elsewhere they are plain copies. Sparse regions stay cheap either way.
// A full copy keeps every volume an ordinary file that any NBD server (or `qemu-img`) can serve on its own, and a
// snapshot can never be damaged through the volume it was taken from. What it costs: a snapshot of a volume that is
// being written is a copy of whatever each block held when the copy reached it (acknowledged writes are in it, writes
// racing the copy may or may not be); quiesce the guest (or flush and pause I/O) for a point-in-time image.
import { constants } from 'node:fs';
import { copyFile, mkdir, open, unlink, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockStoreError, type BlockStore } from './server.ts';

export const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;

export interface BlockStoreAdmin {
  /** The NBD URI real clients use for a volume. */
  url(volumeId: string): string;
  createExport(volumeId: string, sizeBytes: number): Promise<void>;
  /** Delete an export and drop its connections; an export that is already gone is not an error. */
  deleteExport(volumeId: string): Promise<void>;
  hasExport(volumeId: string): boolean;
  /** Copy the volume's current contents to a snapshot. */
  snapshot(volumeId: string, snapshotId: string): Promise<void>;
  /** A new export of `sizeBytes` (≥ the snapshot's) holding the snapshot's contents. */
  createFromSnapshot(volumeId: string, snapshotId: string, sizeBytes: number): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<void>;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try { await fh.datasync(); } finally { await fh.close(); }
}

/** The admin side of a block store running in this process, whose exports live in `dir`. */
export function blockStoreAdmin(bs: BlockStore, dir: string): BlockStoreAdmin {
  const snapDir = join(dir, 'snapshots');
  const image = (volumeId: string): string => join(dir, `${volumeId}.img`);
  const snapImage = (snapshotId: string): string => {
    if (!SNAPSHOT_ID.test(snapshotId)) throw new BlockStoreError('invalid-name', `"${snapshotId}" is not a snapshot id (snap-…)`);
    return join(snapDir, `${snapshotId}.img`);
  };
  return {
    url: (volumeId) => bs.url(volumeId),
    hasExport: (volumeId) => bs.listExports().some((e) => e.name === volumeId),
    async createExport(volumeId, sizeBytes) {
      await bs.createExport(volumeId, sizeBytes);
    },
    async deleteExport(volumeId) {
      try {
        await bs.deleteExport(volumeId);
      } catch (e) {
        if (!(e instanceof BlockStoreError && e.code === 'not-found')) throw e;
      }
    },
    async snapshot(volumeId, snapshotId) {
      if (!bs.listExports().some((e) => e.name === volumeId)) throw new BlockStoreError('not-found', `Export ${volumeId} does not exist`);
      await mkdir(snapDir, { recursive: true });
      const dst = snapImage(snapshotId);
      await copyFile(image(volumeId), dst, constants.COPYFILE_FICLONE);
      await fsyncFile(dst);
    },
    async createFromSnapshot(volumeId, snapshotId, sizeBytes) {
      const src = snapImage(snapshotId);
      const { size } = await stat(src);
      if (sizeBytes < size) throw new BlockStoreError('invalid-size', `Volume size ${sizeBytes} is smaller than snapshot ${snapshotId} (${size})`);
      await bs.createExport(volumeId, sizeBytes);
      try {
        // Same inode as the export's open handle: copyFile truncates and writes (or clones into) the existing file.
        await copyFile(src, image(volumeId), constants.COPYFILE_FICLONE);
        if (sizeBytes > size) await truncate(image(volumeId), sizeBytes);
        await fsyncFile(image(volumeId));
      } catch (e) {
        await bs.deleteExport(volumeId).catch(() => {});
        throw e;
      }
    },
    async deleteSnapshot(snapshotId) {
      try { await unlink(snapImage(snapshotId)); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    },
  };
}

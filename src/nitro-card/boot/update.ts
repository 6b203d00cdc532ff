// Firmware update staging. An update is verified, copied into the card's data dir, and applied on the next boot; the
// image it replaces is kept as the rollback. Live update (swapping firmware under running instances, which real Nitro
// does) is out of scope.
//
//   <cardDataDir>/firmware/staged/    verified, waiting for the next boot
//                          current/   what the card boots (once an update has been applied)
//                          previous/  the image current replaced: the rollback
//                          rejected/  the last image that failed verification at boot (kept for inspection)
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { FILES, FirmwareError, loadPublicKey, type FirmwareCheck, type FirmwareManifest } from './firmware.ts';
import { verifyImage } from './security-chip.ts';

export interface FirmwareSlots {
  readonly staged: string;
  readonly current: string;
  readonly previous: string;
  readonly rejected: string;
}

export function firmwareSlots(cardDataDir: string): FirmwareSlots {
  const root = join(cardDataDir, 'firmware');
  return { staged: join(root, 'staged'), current: join(root, 'current'), previous: join(root, 'previous'), rejected: join(root, 'rejected') };
}

/**
 * Verify `newFirmwareDir` and stage it for the next boot. The image is copied first and the copy is verified, so what
 * boots is exactly what was checked. Throws FirmwareError (nothing staged, any earlier staged image kept) on failure.
 */
export function stageUpdate(cardDataDir: string, newFirmwareDir: string, rootKey: KeyObject | string): { manifest: FirmwareManifest; stagedDir: string } {
  const root = loadPublicKey(rootKey);
  const slots = firmwareSlots(cardDataDir);
  const tmp = `${slots.staged}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    copyImage(newFirmwareDir, tmp);
    const { manifest } = verifyImage(tmp, root);
    rmSync(slots.staged, { recursive: true, force: true });
    renameSync(tmp, slots.staged);
    return { manifest, stagedDir: slots.staged };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface RejectedImage {
  readonly slot: 'staged' | 'current' | 'previous';
  readonly check: FirmwareCheck;
  readonly message: string;
}

export interface BootSelection {
  readonly firmwareDir: string;
  /** update: a staged image was applied now; current: the last applied update; rollback: current failed, previous
   * used; default: no (valid) update, the built-in image. */
  readonly source: 'update' | 'current' | 'rollback' | 'default';
  readonly manifest: FirmwareManifest;
  /** Where the card would fall back to if this image went bad. */
  readonly rollbackDir: string;
  readonly rejected: readonly RejectedImage[];
}

/** Pick the image to boot: a valid staged update (applied now), else the current update, else the rollback, else
 * `defaultDir`. Invalid images are moved aside and reported, never booted. Throws FirmwareError if nothing is valid. */
export function resolveBootFirmware(cardDataDir: string, defaultDir: string, rootKey: KeyObject | string): BootSelection {
  const root = loadPublicKey(rootKey);
  const slots = firmwareSlots(cardDataDir);
  const rejected: RejectedImage[] = [];
  const tryVerify = (slot: RejectedImage['slot']): FirmwareManifest | undefined => {
    const dir = slots[slot];
    if (!existsSync(dir)) return undefined;
    try {
      return verifyImage(dir, root).manifest;
    } catch (e) {
      if (!(e instanceof FirmwareError)) throw e;
      rejected.push({ slot, check: e.check, message: e.message });
      rmSync(slots.rejected, { recursive: true, force: true });
      renameSync(dir, slots.rejected);
      return undefined;
    }
  };
  const fallback = (): string => (existsSync(slots.previous) ? slots.previous : defaultDir);

  const staged = tryVerify('staged');
  if (staged !== undefined) {
    if (existsSync(slots.current)) {
      rmSync(slots.previous, { recursive: true, force: true });
      renameSync(slots.current, slots.previous);
    }
    renameSync(slots.staged, slots.current);
    return { firmwareDir: slots.current, source: 'update', manifest: staged, rollbackDir: fallback(), rejected };
  }
  const current = tryVerify('current');
  if (current !== undefined) return { firmwareDir: slots.current, source: 'current', manifest: current, rollbackDir: fallback(), rejected };
  if (rejected.some((r) => r.slot === 'current')) {
    const previous = tryVerify('previous');
    if (previous !== undefined) return { firmwareDir: slots.previous, source: 'rollback', manifest: previous, rollbackDir: defaultDir, rejected };
  }
  const dflt = verifyImage(defaultDir, root).manifest; // nothing else to fall back to: a refusal stops the boot
  return { firmwareDir: defaultDir, source: 'default', manifest: dflt, rollbackDir: defaultDir, rejected };
}

function copyImage(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of Object.values(FILES)) {
    try {
      copyFileSync(join(from, name), join(to, name));
    } catch (e) {
      throw new FirmwareError('missing-file', `${name} not readable in ${from} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

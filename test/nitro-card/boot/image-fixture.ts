// Test fixture: a throw-away root key pair and a small signed firmware image in a tap test directory.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFirmware, type BuildOptions } from '../../../src/nitro-card/boot/build.ts';
import { FirmwareError } from '../../../src/nitro-card/boot/firmware.ts';

export interface RootKeys {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function rootKeys(): RootKeys {
  return generateKeyPairSync('ed25519');
}

/** A fresh empty directory removed when the test ends. */
export function scratchDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nitrolab-boot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Build a deterministic image (fixed payload, time and commit) into `dir`. */
export function buildImage(dir: string, keys: RootKeys, overrides: Partial<BuildOptions> = {}): string {
  buildFirmware({
    outDir: dir,
    signingKey: keys.privateKey,
    version: '1.0.0',
    builtAt: '2025-01-01T00:00:00.000Z',
    sourceCommit: 'test',
    payload: Buffer.from('card payload for tests\n'.repeat(8)),
    ...overrides,
  });
  return dir;
}

/** Flip one bit of byte `at` of `dir/name` (negative `at` counts from the end). */
export function flipByte(dir: string, name: string, at: number): void {
  const path = join(dir, name);
  const bytes = readFileSync(path);
  const i = at < 0 ? bytes.length + at : at;
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  writeFileSync(path, bytes);
}

/** The FirmwareError `fn` throws (any other outcome fails the test by throwing). */
export function firmwareErrorOf(fn: () => unknown): FirmwareError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FirmwareError) return e;
    throw e;
  }
  throw new Error('expected a FirmwareError, but the call succeeded');
}

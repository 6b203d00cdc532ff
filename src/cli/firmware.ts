// `nitrolab firmware`: build, sign, verify and stage card firmware images; generate signing keys (docs/trust.md).
import { join, resolve } from 'node:path';
import { parse, UsageError } from './args.ts';
import { buildFirmware, generateSigningKeyPair, signFirmware } from '../nitro-card/boot/build.ts';
import { DEFAULT_FIRMWARE_DIR, DEV_ROOT_PRIVATE_KEY, DEV_ROOT_PUBLIC_KEY, FirmwareError } from '../nitro-card/boot/firmware.ts';
import { describePcrs, PCR_DIGEST } from '../nitro-card/boot/pcr.ts';
import { verifyAndMeasure } from '../nitro-card/boot/security-chip.ts';
import { stageUpdate } from '../nitro-card/boot/update.ts';

export const FIRMWARE_USAGE = `Usage: nitrolab firmware <build|sign|verify|keygen|stage> [flags]

  build   [--out DIR] [--key KEY] [--version V] [--name N] [--built-at ISO]
          hash the card sources into payload.bin, write manifest.json and sign it (default: firmware/card, DEV key)
  sign    [--dir DIR] [--key KEY]       re-pin payload.bin in manifest.json and re-sign (after editing an image)
  verify  [--dir DIR] [--pub KEY]       run the security chip's checks; print them and the PCR values
  keygen  --out PREFIX                  write PREFIX.key.pem (private, 0600) and PREFIX.pub.pem
  stage   --data-dir DIR --dir DIR [--pub KEY]   verify an image and stage it for the card's next boot
`;

/** Where output goes; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}
export const stdio: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export async function runFirmware(argv: string[], io: CliIo = stdio): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'build':
        return build(rest, io);
      case 'sign':
        return sign(rest, io);
      case 'verify':
        return verifyCmd(rest, io);
      case 'keygen':
        return keygen(rest, io);
      case 'stage':
        return stage(rest, io);
      case undefined:
      case 'help':
      case '--help':
        io.out(FIRMWARE_USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  } catch (e) {
    if (e instanceof FirmwareError) {
      io.err(`FAIL [${e.check}] ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`nitrolab firmware: ${e.message}\n\n${FIRMWARE_USAGE}`);
      return 2;
    }
    throw e;
  }
}

function build(argv: string[], io: CliIo): number {
  const { values: v } = parse(argv, {
    out: { type: 'string' },
    key: { type: 'string' },
    version: { type: 'string' },
    name: { type: 'string' },
    'built-at': { type: 'string' },
  });
  const outDir = resolve(v.out ?? DEFAULT_FIRMWARE_DIR);
  const keyPath = v.key ?? DEV_ROOT_PRIVATE_KEY;
  if (v['built-at'] !== undefined && Number.isNaN(Date.parse(v['built-at']))) throw new UsageError(`--built-at ${v['built-at']} is not an ISO date`);
  const m = buildFirmware({
    outDir,
    signingKey: keyPath,
    ...(v.version !== undefined ? { version: v.version } : {}),
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(v['built-at'] !== undefined ? { builtAt: new Date(v['built-at']).toISOString() } : {}),
  });
  io.out(`built ${m.name} ${m.version} in ${outDir}`);
  io.out(`  payload  ${m.payload.format}, ${m.payload.size} bytes, sha256 ${m.payload.sha256}`);
  io.out(`  signed   by ${keyPath} (key id ${m.build.signer})${keyPath === DEV_ROOT_PRIVATE_KEY ? ' — DEVELOPMENT key, not for production' : ''}`);
  return 0;
}

function sign(argv: string[], io: CliIo): number {
  const { values: v } = parse(argv, { dir: { type: 'string' }, key: { type: 'string' } });
  const dir = resolve(v.dir ?? DEFAULT_FIRMWARE_DIR);
  const m = signFirmware(dir, v.key ?? DEV_ROOT_PRIVATE_KEY);
  io.out(`signed ${m.name} ${m.version} in ${dir}: payload sha256 ${m.payload.sha256}, key id ${m.build.signer}`);
  return 0;
}

function verifyCmd(argv: string[], io: CliIo): number {
  const { values: v } = parse(argv, { dir: { type: 'string' }, pub: { type: 'string' } });
  const dir = resolve(v.dir ?? DEFAULT_FIRMWARE_DIR);
  const pub = v.pub ?? DEV_ROOT_PUBLIC_KEY;
  io.out(`verifying ${dir} against root key ${pub}`);
  const r = verifyAndMeasure({ firmwareDir: dir, rootPublicKey: pub });
  io.out(`  ok  files: manifest.json, payload.bin, signature.bin`);
  io.out(`  ok  signature: Ed25519 over the canonical manifest, signer ${r.manifest.build.signer}`);
  io.out(`  ok  manifest: ${r.manifest.name} ${r.manifest.version}, built ${r.manifest.build.builtAt}, ${r.manifest.personalities.map((p) => `${p.name} ${p.vendorId}:${p.deviceId}`).join(', ')}`);
  io.out(`  ok  payload: sha256 ${r.manifest.payload.sha256}, ${r.manifest.payload.size} bytes`);
  io.out(`PCRs (${PCR_DIGEST}):`);
  for (const line of describePcrs(r.pcrs, r.measurements)) io.out(`  ${line}`);
  io.out(`  (PCR4, the card identity key, is measured when a card boots)`);
  return 0;
}

function keygen(argv: string[], io: CliIo): number {
  const { values: v } = parse(argv, { out: { type: 'string' } });
  if (v.out === undefined) throw new UsageError('keygen needs --out PREFIX');
  const priv = resolve(`${v.out}.key.pem`);
  const pub = resolve(`${v.out}.pub.pem`);
  try {
    const { keyId } = generateSigningKeyPair(priv, pub);
    io.out(`wrote ${priv} (private, keep it secret) and ${pub}; key id ${keyId}`);
    return 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${priv} or ${pub} already exists; not overwriting a key`);
    throw e;
  }
}

function stage(argv: string[], io: CliIo): number {
  const { values: v } = parse(argv, { 'data-dir': { type: 'string' }, dir: { type: 'string' }, pub: { type: 'string' } });
  if (v['data-dir'] === undefined || v.dir === undefined) throw new UsageError('stage needs --data-dir DIR and --dir DIR');
  const { manifest, stagedDir } = stageUpdate(resolve(v['data-dir']), resolve(v.dir), v.pub ?? DEV_ROOT_PUBLIC_KEY);
  io.out(`staged ${manifest.name} ${manifest.version} in ${stagedDir}; applied on the card's next boot (${join(v['data-dir'], 'firmware', 'previous')} keeps the rollback)`);
  return 0;
}

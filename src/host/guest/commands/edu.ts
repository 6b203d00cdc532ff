// edu: drive the edu teaching device from the console (docs/labs/edu-device.md, docs/labs/write-your-own-card.md).
//   edu                 the bound edu functions, their MSI-X vector and interrupt count
//   edu fact N          N! mod 2^32, computed by the device
//   edu checksum LEN    CRC-32 of LEN bytes (e.g. 4k) by DMA on the device, next to the CPU's CRC-32 of them
//   edu copy LEN        DMA copy of LEN bytes inside guest RAM, checked byte for byte
import type { CommandContext, ShellCommand } from '../shell.ts';
import { EduFunction } from '../edu/edu.ts';
import { hex, parseSize } from './util.ts';

const USAGE = 'usage: edu [info] | edu fact N | edu checksum LEN | edu copy LEN\n';

function functions(k: CommandContext['k']): EduFunction[] {
  return k.bound.flatMap((b) => (b.instance instanceof EduFunction ? [b.instance] : []));
}

/** The same bytes for the same length on every run, so a CRC printed in the lab can be compared. */
export function eduPattern(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = Math.imul(i + 1, 0x9e37_79b1) >>> 24;
  return b;
}

function parseLen(text: string | undefined, err: (t: string) => void): number | undefined {
  const n = parseSize(text ?? '');
  if (!Number.isInteger(n) || n < 1) {
    err(`edu: bad length '${text ?? ''}'\n`);
    return undefined;
  }
  return n;
}

async function run({ args, k, out, err }: CommandContext): Promise<number> {
  const devs = functions(k);
  const d = devs[0];
  if (d === undefined) {
    err('edu: no edu device (launch the instance with devices: ["edu"])\n');
    return 1;
  }
  const [sub = 'info', arg] = args;
  try {
    switch (sub) {
      case 'info':
        for (const [i, f] of devs.entries()) {
          out(`edu${i} ${f.name.slice(4)} nitrolab edu v${f.version} msix-vector ${hex(f.vector, 2)} interrupts ${f.interrupts}\n`);
        }
        return 0;
      case 'fact': {
        const n = Number(arg);
        if (arg === undefined || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
          err(`edu: bad number '${arg ?? ''}'\n`);
          return 2;
        }
        out(`${n}! = ${await d.factorial(n)}${n >= 13 ? ' (mod 2^32)' : ''}\n`);
        return 0;
      }
      case 'checksum': {
        const len = parseLen(arg, err);
        if (len === undefined) return 2;
        const r = await d.checksum(eduPattern(len));
        out(`edu checksum: ${len} bytes by DMA\n`);
        out(`device crc32 ${hex(r.device, 8)}\n`);
        out(`cpu    crc32 ${hex(r.cpu, 8)} ${r.device === r.cpu ? '(match)' : '(MISMATCH)'}\n`);
        return r.device === r.cpu ? 0 : 1;
      }
      case 'copy': {
        const len = parseLen(arg, err);
        if (len === undefined) return 2;
        const r = await d.copy(eduPattern(len));
        out(`edu copy: ${len} bytes by DMA, ${r.same ? 'destination matches source' : 'DESTINATION DIFFERS'}, crc32 ${hex(r.device, 8)}\n`);
        return r.same && r.device === r.cpu ? 0 : 1;
      }
      default:
        err(USAGE);
        return 2;
    }
  } catch (e) {
    err(`edu: ${(e as Error).message}\n`);
    return 1;
  }
}

export const edu: ShellCommand = { name: 'edu', summary: 'drive the edu teaching device: edu fact N | checksum LEN | copy LEN', run };

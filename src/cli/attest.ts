// `nitrolab attest`: fetch a card's attestation document through the control plane and verify it (docs/trust.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, UsageError } from './args.ts';
import { stdio, type CliIo } from './firmware.ts';
import { verifyAttestation, type AttestationResult, type VerifyAttestationOptions } from '../nitro-card/boot/attestation.ts';
import { FirmwareError } from '../nitro-card/boot/firmware.ts';
import { describePcrs } from '../nitro-card/boot/pcr.ts';

export const ATTEST_USAGE = `Usage: nitrolab attest <verify|get> [flags]

  verify  --file DOC --nonce N [check flags]    verify a saved attestation document
  get     --url <control-plane>/v1/hosts/<id>/attestation --nonce N [--out FILE] [--token-file F] [check flags]
          fetch the document (GET ...?nonce=N) and verify it; --token-file sends its contents as a bearer token
          (e.g. to ask a card's management API, <card>/mgmt/v1/attestation, directly)

  check flags:
    --pub KEY          the firmware root public key the card's boot ROM must trust (PCR0)
    --card-key KEY     pin the card identity public key
    --expect-pcr I=HEX expect PCR I to be HEX (repeatable)
    --max-age S        accept documents up to S seconds old (default 300)
`;

const CHECK_FLAGS = {
  nonce: { type: 'string' },
  pub: { type: 'string' },
  'card-key': { type: 'string' },
  'expect-pcr': { type: 'string', multiple: true },
  'max-age': { type: 'string' },
} as const;

export async function runAttest(argv: string[], io: CliIo = stdio): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify': {
        const { values: v } = parse(rest, { ...CHECK_FLAGS, file: { type: 'string' } });
        if (v.file === undefined) throw new UsageError('verify needs --file DOC');
        const opts = checkOptions(v);
        let doc: unknown;
        try {
          doc = JSON.parse(readFileSync(v.file, 'utf8'));
        } catch (e) {
          io.err(`FAIL [format] ${v.file}: ${(e as Error).message}`);
          return 1;
        }
        return report(verifyAttestation(doc, opts), opts, io);
      }
      case 'get': {
        const { values: v } = parse(rest, { ...CHECK_FLAGS, url: { type: 'string' }, out: { type: 'string' }, 'token-file': { type: 'string' } });
        if (v.url === undefined) throw new UsageError('get needs --url <control-plane>/v1/hosts/<id>/attestation');
        const opts = checkOptions(v);
        let url: URL;
        try {
          url = new URL(v.url);
        } catch {
          throw new UsageError(`--url ${v.url} is not a URL`);
        }
        url.searchParams.set('nonce', opts.nonce);
        const headers: Record<string, string> = {};
        // The control plane's API key: --token-file, else NITROLAB_API_KEY as every other client takes it.
        if (v['token-file'] === undefined && process.env.NITROLAB_API_KEY) headers['authorization'] = `Bearer ${process.env.NITROLAB_API_KEY}`;
        if (v['token-file'] !== undefined) {
          try {
            headers['authorization'] = `Bearer ${readFileSync(v['token-file'], 'utf8').trim()}`;
          } catch (e) {
            throw new UsageError(`--token-file ${v['token-file']} not readable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
          }
        }
        let res: Response;
        try {
          res = await fetch(url, { headers });
        } catch (e) {
          io.err(`FAIL [fetch] GET ${url.href}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
          return 1;
        }
        const text = await res.text();
        if (!res.ok) {
          io.err(`FAIL [fetch] GET ${url.href}: HTTP ${res.status} ${text.slice(0, 200)}`);
          return 1;
        }
        if (v.out !== undefined) writeFileSync(v.out, text);
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch {
          io.err(`FAIL [format] GET ${url.href} returned ${res.headers.get('content-type') ?? 'no content type'}, not JSON`);
          return 1;
        }
        io.out(`fetched ${url.href}`);
        return report(verifyAttestation(doc, opts), opts, io);
      }
      case undefined:
      case 'help':
      case '--help':
        io.out(ATTEST_USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  } catch (e) {
    if (e instanceof FirmwareError) {
      io.err(`FAIL [${e.check}] ${e.message}`); // an unusable --pub or --card-key file
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`nitrolab attest: ${e.message}\n\n${ATTEST_USAGE}`);
      return 2;
    }
    throw e;
  }
}

type CheckFlags = { nonce?: string; pub?: string; 'card-key'?: string; 'expect-pcr'?: string[]; 'max-age'?: string };

function checkOptions(v: CheckFlags): VerifyAttestationOptions {
  if (v.nonce === undefined || v.nonce === '') throw new UsageError('--nonce N is required: the document must answer your own fresh nonce');
  const expectedPcrs: Record<number, string> = {};
  for (const spec of v['expect-pcr'] ?? []) {
    const m = /^(\d+)=([0-9a-fA-F]{96})$/.exec(spec);
    if (!m) throw new UsageError(`--expect-pcr ${spec} is not I=<96 hex digits>`);
    expectedPcrs[Number(m[1])] = m[2]!.toLowerCase();
  }
  let maxAgeMs: number | undefined;
  if (v['max-age'] !== undefined) {
    const s = Number(v['max-age']);
    if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--max-age ${v['max-age']} is not a positive number of seconds`);
    maxAgeMs = s * 1000;
  }
  return {
    nonce: v.nonce,
    ...(Object.keys(expectedPcrs).length > 0 ? { expectedPcrs } : {}),
    ...(v.pub !== undefined ? { trustedRootKey: v.pub } : {}),
    ...(v['card-key'] !== undefined ? { cardPublicKey: v['card-key'] } : {}),
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
  };
}

function report(r: AttestationResult, opts: VerifyAttestationOptions, io: CliIo): number {
  if (!r.ok) {
    io.err(`FAIL [${r.check}] ${r.message}`);
    return 1;
  }
  const b = r.body;
  const checked = ['signature', 'event log replay', 'nonce', 'freshness'];
  if (opts.cardPublicKey !== undefined) checked.push('card key pin');
  if (opts.trustedRootKey !== undefined) checked.push('root key (PCR0)');
  if (opts.expectedPcrs !== undefined) checked.push(`PCR${Object.keys(opts.expectedPcrs).join(', PCR')}`);
  io.out(`ok  attestation from host ${b.hostId}, signed ${b.timestamp}`);
  io.out(`    firmware ${b.firmware.name ?? '(unnamed)'} ${b.firmware.version}, payload sha256 ${b.firmware.sha256}`);
  io.out(`    checked: ${checked.join(', ')}${opts.trustedRootKey === undefined ? ' (root key not checked: pass --pub)' : ''}`);
  io.out(`PCRs (${b.digest}):`);
  for (const line of describePcrs(b.pcrs, b.eventLog)) io.out(`  ${line}`);
  return 0;
}

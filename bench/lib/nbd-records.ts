// Runs bench/nbd.ts (NBD client → block store vs fio on the same file) in a child process and turns its JSON into
// records: the NBD client's 4 KiB figures, each with fio on the same file as its limit.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fromRuns, type BenchContext, type BenchRecord } from './record.ts';

const SCRIPT = fileURLToPath(new URL('../nbd.ts', import.meta.url));
interface R { iops: number; p50us: number; p99us: number }

export async function runNbd(ctx: BenchContext): Promise<BenchRecord[]> {
  const seconds = Math.max(1, Math.round(ctx.runMs / 1000));
  const runs: { client: Record<string, R>; fio: Record<string, R | { error: string }> | string }[] = [];
  for (let i = 0; i < Math.max(1, ctx.quick ? 1 : ctx.runs); i++) {
    ctx.progress(`nbd: run ${i + 1}`);
    const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--import', 'tsx', SCRIPT, String(seconds)],
      { timeout: 600_000, maxBuffer: 1 << 20 }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout))));
    const j = JSON.parse(out) as { nbdClientVsBlockStore: Record<string, R>; fio: Record<string, R | { error: string }> | string };
    runs.push({ client: j.nbdClientVsBlockStore, fio: j.fio });
  }
  const recs: BenchRecord[] = [];
  for (const key of Object.keys(runs[0]?.client ?? {})) {
    const [rw, qdText] = key.split('-qd') as [string, string];
    const fioKey = qdText === '1' ? `file-psync-${rw}-qd1` : `file-io_uring-${rw}-qd${qdText}`;
    const fioVals = runs.map((r) => (typeof r.fio === 'string' ? undefined : r.fio[fioKey])).filter((x): x is R => x !== undefined && 'iops' in x);
    const limit = fioVals.length > 0 ? { name: `fio ${fioKey.replace(/-/gu, ' ')} (same file)`, value: fioVals.map((x) => x.iops).sort((a, b) => a - b)[fioVals.length >> 1] as number } : null;
    const o = { transport: 'nbd', mode: 'offload' } as const;
    recs.push(fromRuns(`nbd.4k.${rw}.qd${qdText}.iops`, 'IOPS', runs.map((r) => r.client[key]?.iops ?? NaN), { ...o, limit, note: 'NbdClient → built-in block store on a temp file (bench/nbd.ts)' }));
    recs.push(fromRuns(`nbd.4k.${rw}.qd${qdText}.p50`, 'µs', runs.map((r) => r.client[key]?.p50us ?? NaN), o));
    recs.push(fromRuns(`nbd.4k.${rw}.qd${qdText}.p99`, 'µs', runs.map((r) => r.client[key]?.p99us ?? NaN), o));
  }
  return recs;
}

// Batching and pushing (docs/labs/batch-and-push.md): NVMe 4 KiB random read at queue depth 1 and 32 over the socket
// link, with descriptor push (DOORBELL_PUSH, vendor feature C0h) off/on and interrupt coalescing (Feature 08h) off/on:
// IOPS, p50/p99, and interrupts per I/O and SQ DMA reads per I/O from the card's queue statistics log (C0h).
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { filledVolume, runIo, startRig, type Rig } from './lib/nvme-rig.ts';
import { fromRuns, repeat, type BenchContext, type BenchRecord } from './lib/record.ts';

const VOLUME = 64 << 20;
const WORKING_SET = 32 << 20;
/** Coalescing when on: up to 8 completions (THR 7, 0-based) or 100 µs (TIME 1). */
export const COALESCE_ON = { thr: 7, time: 1 } as const;

/** The card's vendor queue statistics (nvme queue-log). */
async function queueLog(rig: Rig): Promise<Record<string, number>> {
  const r = await rig.kernel.exec('nvme queue-log /dev/nvme0');
  if (r.code !== 0) throw new Error(`nvme queue-log failed: ${r.output}`);
  return Object.fromEntries([...r.output.matchAll(/^(\w+)\s+: (\d+) /gmu)].map((m) => [m[1] as string, Number(m[2])]));
}

async function sh(rig: Rig, line: string): Promise<void> {
  const r = await rig.kernel.exec(line);
  if (r.code !== 0) throw new Error(`${line}: ${r.output}`);
}

export async function runPush(ctx: BenchContext): Promise<BenchRecord[]> {
  const recs: BenchRecord[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'bench-push-'));
  const file = join(dir, 'vol.img');
  try {
    await filledVolume(file, VOLUME);
    ctx.progress('push: starting card (socket) and guest driver');
    const rig = await startRig({ transport: 'socket', backend: 'file', path: file, sizeBytes: VOLUME, dir });
    try {
      for (const push of [false, true]) {
        await sh(rig, `nvme set-feature /dev/nvme0 push ${push ? 'on' : 'off'}`);
        for (const coalesce of [false, true]) {
          await sh(rig, `nvme set-feature /dev/nvme0 coalesce ${coalesce ? `${COALESCE_ON.thr} ${COALESCE_ON.time}` : 'off'}`);
          for (const qd of [1, 32]) {
            const what = `push-${push ? 'on' : 'off'}.coalesce-${coalesce ? 'on' : 'off'}`;
            const runs = await repeat(ctx, `push socket 4k randread qd${qd} ${what}`, async () => {
              const a = await queueLog(rig);
              const r = await runIo(rig, { rw: 'randread', bs: 4096, qd, ms: ctx.runMs, workingSet: WORKING_SET });
              const b = await queueLog(rig);
              const d = (k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
              return { ...r, irqPerIo: d('io_interrupts') / Math.max(1, d('io_cqe_posted')), dmaPerIo: d('io_sq_dma_reads') / Math.max(1, d('io_cqe_posted')) };
            });
            const base = `nvme-push.4k.randread.qd${qd}.${what}`;
            const o = { transport: 'socket', mode: 'offload' } as const;
            const load = (loadavg()[0] ?? 0).toFixed(1);
            const note = `1-min load ${load} when measured; file backend; push ${push ? 'on (SQEs in DOORBELL_PUSH)' : 'off (SQ DMA read)'}; coalescing ${coalesce ? `THR ${COALESCE_ON.thr + 1} / ${COALESCE_ON.time * 100} µs` : 'off'}`;
            recs.push(fromRuns(`${base}.iops`, 'IOPS', runs.map((r) => r.iops), { ...o, note }));
            recs.push(fromRuns(`${base}.p50`, 'µs', runs.map((r) => r.p50us), o));
            recs.push(fromRuns(`${base}.p99`, 'µs', runs.map((r) => r.p99us), o));
            recs.push(fromRuns(`${base}.irqs-per-io`, 'interrupts/I/O', runs.map((r) => r.irqPerIo), { ...o, note: 'card: io_interrupts / io_cqe_posted (nvme queue-log)' }));
            recs.push(fromRuns(`${base}.sq-dma-reads-per-io`, 'DMA reads/I/O', runs.map((r) => r.dmaPerIo), { ...o, note: 'card: io_sq_dma_reads / io_cqe_posted' }));
          }
        }
      }
    } finally {
      await rig.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return recs;
}

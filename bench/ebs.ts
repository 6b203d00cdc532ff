// EBS figures (issue 3): 4 KiB random read/write at qd 1 and 32 through the whole EBS path — the guest NVMe driver →
// the link → the card's NVMe function → its NBD client → our block store → the export's file — on both transports,
// beside fio on that same file (the ratio says what the emulated card and the network block protocol cost).
import { mkdtemp, open, rm } from 'node:fs/promises';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBlockStore } from '../src/blockstore/server.ts';
import { createRootLogger } from '../src/common/log.ts';
import { runIo, startRig } from './lib/nvme-rig.ts';
import { fromRuns, repeat, type BenchContext, type BenchRecord } from './lib/record.ts';
import { haveFio, hostFio } from './nvme.ts';

const VOLUME = 64 << 20;
const WORKING_SET = 32 << 20;
const NAME = 'vol-0be0c0000000000e5';

export async function runEbs(ctx: BenchContext): Promise<BenchRecord[]> {
  const recs: BenchRecord[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'bench-ebs-'));
  const store = await startBlockStore({ host: '127.0.0.1', port: 0, dir: join(dir, 'store'), log: createRootLogger({ name: 'bench-store', level: 'warn', pretty: false }) });
  try {
    await store.createExport(NAME, VOLUME);
    const file = join(dir, 'store', `${NAME}.img`);
    const fh = await open(file, 'r+');
    const fill = new Uint8Array(1 << 20);
    for (let off = 0; off < VOLUME; off += fill.length) { randomFillSync(fill); await fh.write(fill, 0, fill.length, off); }
    await fh.close();
    for (const transport of ['shm', 'socket'] as const) {
      ctx.progress(`ebs ${transport}: card with an NBD client to the block store`);
      const rig = await startRig({ transport, backend: 'nbd', nbdUrl: store.url(NAME), path: file, sizeBytes: VOLUME, dir });
      try {
        for (const rw of ['randread', 'randwrite'] as const) {
          for (const qd of [1, 32]) {
            const runs = await repeat(ctx, `ebs ${transport} 4k ${rw} qd${qd}`, () => runIo(rig, { rw, bs: 4096, qd, ms: ctx.runMs, workingSet: WORKING_SET }));
            const base = `ebs.nbd.4k.${rw}.qd${qd}`;
            const o = { transport, mode: 'offload' } as const;
            recs.push(fromRuns(`${base}.iops`, 'IOPS', runs.map((r) => r.iops), { ...o, note: 'guest NVMe driver → card NVMe → NBD client → block store → file; no EBS throttle' }));
            recs.push(fromRuns(`${base}.p50`, 'µs', runs.map((r) => r.p50us), o));
            recs.push(fromRuns(`${base}.p99`, 'µs', runs.map((r) => r.p99us), o));
          }
        }
      } finally {
        await rig.close();
      }
    }
    if (await haveFio()) {
      const common = [`--filename=${file}`, `--size=${WORKING_SET}`, '--name=limit', '--bs=4k'];
      for (const rw of ['randread', 'randwrite'] as const) {
        for (const [qd, engine] of [[1, 'psync'], [32, 'io_uring']] as const) {
          const fio = await repeat(ctx, `fio ${engine} ${rw} qd${qd} on the export file`, async () =>
            (await hostFio([...common, `--ioengine=${engine}`, `--iodepth=${qd}`, `--rw=${rw}`], ctx.runMs))?.iops ?? NaN);
          const limit = fromRuns(`limit.fio.ebs-export.4k.${rw}.qd${qd}`, 'IOPS', fio, { transport: 'none', mode: 'raw', note: `host fio, ${engine}, the export's backing file` });
          recs.push(limit);
          for (const r of recs) {
            if (r.name !== `ebs.nbd.4k.${rw}.qd${qd}.iops` || r.value === null || limit.value === null) continue;
            r.limit = { name: limit.name, value: limit.value };
            r.ratio = Math.round((r.value / limit.value) * 1000) / 1000;
          }
        }
      }
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  return recs;
}

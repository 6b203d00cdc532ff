// NVMe submission entries and register writes into the controller, driven through a fake host's memory (the same
// harness as the device tests: test/devices/nvme/driver.ts). Each iteration is a random SQE on the admin or an I/O
// queue (random opcodes, NSIDs, PRPs in memory, unaligned or outside it, queue-creation commands pointing anywhere),
// a random doorbell value, or a random controller register write. Invariants: no access throws, no
// `nvme.internal-error`, and after every batch a controller reset brings back a working device (queues created, a
// written block reads back).
import { DATA, TestDriver } from '../../../test/devices/nvme/driver.ts';
import { AdminOpc, CSTS, DOORBELL_BASE } from '../../devices/nvme/regs.ts';
import { Rng } from '../rng.ts';
import { catchingUncaught, guarded, Tally, type FuzzOptions, type FuzzResult } from '../types.ts';

const BATCH = 40;
const MEM = 16 << 20;

async function healthy(d: TestDriver, t: Tally, it: number, r: Rng): Promise<boolean> {
  d.disable();
  await d.host.settle(5);
  d.enable();
  if ((d.csts() & CSTS.RDY) === 0) { t.find(it, 'invariant', `controller not ready after reset (CSTS 0x${d.csts().toString(16)})`); return false; }
  const [a, b] = await d.createIoQueues(1, 32);
  if (a !== 1 || b !== 1) { t.find(it, 'invariant', `I/O queue creation failed after reset (status 0x${a.toString(16)}/0x${b.toString(16)})`); return false; }
  const lba = r.int(1000);
  const want = d.fill(DATA, 4096, r.u8()).slice();
  const w = await (d.submit(1, { opc: 0x01, nsid: 1, prp1: DATA, cdw10: lba, cdw12: 7 }), d.next(1));
  d.host.mem.fill(0, DATA + 0x10000, DATA + 0x11000);
  const rd = await (d.submit(1, { opc: 0x02, nsid: 1, prp1: DATA + 0x10000, cdw10: lba, cdw12: 7 }), d.next(1));
  const got = d.host.mem.subarray(DATA + 0x10000, DATA + 0x11000);
  if (w.st !== 1 || rd.st !== 1 || Buffer.compare(Buffer.from(want), Buffer.from(got)) !== 0) {
    t.find(it, 'invariant', `write/read-back after reset failed (status 0x${w.st.toString(16)}/0x${rd.st.toString(16)})`);
    return false;
  }
  return true;
}

export async function fuzzNvme(o: FuzzOptions): Promise<FuzzResult> {
  const t = new Tally('nvme', o.seed);
  const r = new Rng(o.seed);
  return catchingUncaught(t, async () => {
    const d = new TestDriver({ ioQueues: 4, mdts: 5, mqes: 255 }, 4 << 20, MEM);
    await d.ready();
    const addr = (): number => {
      const x = r.next();
      if (x < 0.5) return DATA + (r.int(4 << 20) & ~0xfff);
      if (x < 0.7) return r.int(MEM);
      if (x < 0.85) return MEM - r.int(0x2000); // straddles the end of memory
      return r.u32() * 0x1000 + r.int(0x1000); // far outside
    };
    const adminOpcs = [AdminOpc.CREATE_IO_SQ, AdminOpc.CREATE_IO_CQ, AdminOpc.DELETE_IO_SQ, AdminOpc.DELETE_IO_CQ, AdminOpc.GET_LOG_PAGE,
      AdminOpc.IDENTIFY, AdminOpc.ABORT, AdminOpc.SET_FEATURES, AdminOpc.GET_FEATURES, AdminOpc.ASYNC_EVENT_REQUEST, 0x10, 0x80, 0xc5, 0xff];
    const ioOpcs = [0x00, 0x01, 0x02, 0x08, 0x09, 0x04, 0x05, 0x7e, 0x81, 0xff];
    let it = 0;
    while (it < o.iterations) {
      const n = Math.min(BATCH, o.iterations - it);
      for (let i = 0; i < n; i++, it++) {
        t.inputs++;
        const kind = r.next();
        await guarded(t, it, 'controller access threw', () => {
          if (kind < 0.65) {
            const qid = [...d.sqs.keys()].length > 0 ? r.pick([...d.sqs.keys()]) : 0;
            if (!d.sqs.has(qid)) return;
            const admin = qid === 0;
            const small = () => (r.chance(0.5) ? r.edgyU32() : r.int(64));
            d.place(qid, {
              opc: r.chance(0.95) ? r.pick(admin ? adminOpcs : ioOpcs) : r.u8(),
              cid: r.chance(0.1) ? r.pick([0, 0xffff, 1]) : r.u16(),
              flags: r.chance(0.15) ? r.u8() : 0,
              nsid: r.pick([0, 1, 1, 1, 2, 0xffffffff, r.u32()]),
              prp1: addr(), prp2: addr(),
              cdw10: admin && r.chance(0.3) ? ((r.int(0x10000) << 16) | r.int(8)) >>> 0 : small(),
              cdw11: small(), cdw12: r.chance(0.7) ? r.int(64) | (r.chance(0.2) ? 1 << 30 : 0) : r.u32(),
              cdw13: small(), cdw14: r.u32(), cdw15: r.u32(),
            });
            d.ring(qid);
            t.count(admin ? 'sqe-admin' : 'sqe-io');
          } else if (kind < 0.85) {
            const off = DOORBELL_BASE + (r.chance(0.9) ? 4 * r.int(2 * 6) : r.int(0x1000));
            d.bar.write(off, r.pick([4, 4, 4, 2, 1] as const), r.edgyU32());
            t.count('doorbell');
          } else if (kind < 0.95) {
            d.bar.write(r.int(0x40) & ~3, 4, r.edgyU32());
            t.count('register');
          } else {
            d.bar.write(r.int(0x4000), r.pick([1, 2, 4] as const), r.u32());
            t.count('bar-any');
          }
        });
      }
      await d.host.settle(20);
      for (const qid of d.cqs.keys()) await guarded(t, it, 'drain', async () => { await d.drain(qid); });
      if (d.host.events().includes('nvme.internal-error')) {
        const e = d.host.logs.find((l) => (l.obj as { event?: string }).event === 'nvme.internal-error');
        t.find(it, 'crash', `nvme.internal-error: ${JSON.stringify(e?.obj)}`);
      }
      if ((d.csts() & CSTS.CFS) !== 0) t.count('cfs-set');
      for (const l of d.host.logs) { const ev = (l.obj as { event?: string }).event; if (ev !== undefined && l.level !== 'debug' && l.level !== 'info') t.count(ev); }
      d.host.logs.length = 0;
      d.host.dmaFaults.length = 0;
      try {
        if (!(await healthy(d, t, it, r))) break;
      } catch (e) {
        t.find(it, 'invariant', `controller unusable after batch: ${(e as Error).message}`);
        break;
      }
      if (it % 1000 === 0) o.log?.(`nvme: ${it}/${o.iterations}`);
    }
    return t.done(it);
  });
}

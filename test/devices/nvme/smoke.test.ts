// A seeded random SQE smoke test: random admin and NVM commands (random fields, PRPs in a data window or unmapped)
// never throw, never set CSTS.CFS, and every command is answered with exactly one completion carrying its CID.
import t from 'tap';
import { TestDriver, DATA } from './driver.ts';
import { mulberry32 } from '../../helpers/device-contract.ts';
import { AdminOpc, CSTS } from '../../../src/devices/nvme/regs.ts';

const WINDOW = 4 << 20;

for (const seed of [1, 0xbeef, 20240607]) {
  t.test(`seed ${seed}: every random command completes with a status`, async (t) => {
    const rnd = mulberry32(seed);
    const u32 = () => Math.floor(rnd() * 0x1_0000_0000);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const d = new TestDriver({ ioQueues: 3, mdts: 5 }, 1 << 20, 16 << 20);
    for (let i = 0; i < WINDOW; i += 4) d.host.view.setUint32(DATA + i, u32(), true);
    await d.ready();
    await d.createIoQueues(2, 32);
    const addr = () => {
      const r = rnd();
      if (r < 0.6) return DATA + (Math.floor(rnd() * (WINDOW - 0x40000)) & ~0xfff); // page aligned in the window
      if (r < 0.8) return DATA + Math.floor(rnd() * (WINDOW - 0x40000)); // any alignment
      return 0x10_0000_0000 + u32(); // unmapped
    };
    // AER (parks), Delete SQ/CQ (would remove the queues this test drives) are left out on purpose.
    const adminOpcs = [AdminOpc.CREATE_IO_SQ, AdminOpc.CREATE_IO_CQ, AdminOpc.GET_LOG_PAGE, AdminOpc.IDENTIFY,
      AdminOpc.ABORT, AdminOpc.SET_FEATURES, AdminOpc.GET_FEATURES, 0x10, 0x80, 0xc5] as const;
    const ioOpcs = [0x00, 0x01, 0x02, 0x08, 0x09, 0x04, 0x05, 0x7e, 0x81] as const;
    let submitted = 0;
    let answered = 0;
    for (let batch = 0; batch < 30; batch++) {
      const sent = new Map<number, number[]>();
      for (const qid of [0, 1, 2]) {
        const n = 1 + Math.floor(rnd() * 8);
        const cids: number[] = [];
        for (let i = 0; i < n; i++) {
          const admin = qid === 0;
          const cdwSmall = () => (rnd() < 0.5 ? u32() : Math.floor(rnd() * 64));
          const cid = d.place(qid, {
            opc: admin ? pick(adminOpcs) : pick(ioOpcs),
            flags: rnd() < 0.1 ? Math.floor(rnd() * 256) : 0,
            nsid: pick([0, 1, 1, 1, 2, 0xffffffff, u32()]),
            prp1: addr(), prp2: addr(),
            cdw10: cdwSmall(), cdw11: cdwSmall(), cdw12: rnd() < 0.7 ? Math.floor(rnd() * 64) | (rnd() < 0.2 ? 1 << 30 : 0) : u32(),
            cdw13: cdwSmall(), cdw14: u32(), cdw15: u32(),
          });
          cids.push(cid);
        }
        d.ring(qid);
        sent.set(qid, cids);
        submitted += n;
      }
      for (const [qid, cids] of sent) {
        const got: number[] = [];
        for (let round = 0; round < 20 && got.length < cids.length; round++) got.push(...(await d.drain(qid)).map((c) => c.cid));
        answered += got.length;
        if (got.sort().join() !== [...cids].sort().join()) {
          t.fail(`batch ${batch} queue ${qid}: sent CIDs ${cids.join(',')} but got ${got.join(',')}`);
          return;
        }
      }
      if ((d.csts() & CSTS.CFS) !== 0) { t.fail(`CSTS.CFS set in batch ${batch}`); return; }
    }
    t.equal(answered, submitted, `${submitted} commands, each answered once`);
    t.notOk(d.host.events().includes('nvme.internal-error'), 'no internal errors');
  });
}

// chaos: a misbehaving guest driver (issue 9 §2). It takes the NVMe controller away from the kernel's driver and
// writes garbage at it, round by round: random doorbell values, admin rings pointing outside guest RAM, PRPs and PRP
// lists into memory this guest does not own (where another instance's RAM would be), and interrupt storms (bursts of
// commands that each complete with an MSI-X, plus MSI-X mask flapping). The card must answer with spec errors
// (CSTS.CFS, Data Transfer Error, Invalid Doorbell AEN), the host IOMMU must refuse and record the DMA, and nothing
// may crash. It prints what it saw, then leaves the controller disabled: `nvme reset /dev/nvme0` brings it back.
//   chaos [--rounds N] [--seed S] [/dev/nvme0]
import type { CommandContext, ShellCommand } from '../shell.ts';
import { Cqe, CSTS, DOORBELL_BASE, NvmeRegs, Sqe } from '../../../devices/nvme/regs.ts';

const R = NvmeRegs.offset;
const ENTRIES = 32;
/** Default CC for enable: MPS 0 (4 KiB), IOSQES 6, IOCQES 4. */
const CC_BASE = (6 << 16) | (4 << 20);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

interface Tally { doorbells: number; cfs: number; completions: number; dataTransferErrors: number; otherErrors: number; lost: number; maskFlaps: number }

export const chaos: ShellCommand = {
  name: 'chaos',
  summary: 'misbehave at the NVMe controller on purpose (garbage doorbells, rings and PRPs outside RAM, interrupt storms)',
  async run(ctx: CommandContext): Promise<number> {
    const { k } = ctx;
    const p = k.platform;
    let rounds = 5;
    let seed = 1;
    let devName = '/dev/nvme0';
    for (let i = 0; i < ctx.args.length; i++) {
      const a = ctx.args[i];
      if (a === '--rounds') rounds = Math.max(1, Math.min(10_000, Number(ctx.args[++i]) || 5));
      else if (a === '--seed') seed = Number(ctx.args[++i]) || 1;
      else if (a !== undefined) devName = a;
    }
    const nth = Number(/nvme(\d+)$/.exec(devName)?.[1] ?? 0);
    const dev = k.pci.devices.filter((d) => d.classCode === 0x010802)[nth];
    if (!dev) { ctx.err(`chaos: ${devName}: no such NVMe controller\n`); return 1; }
    const slot = dev.slot;
    const r = rng(seed);
    const u32 = () => Math.floor(r() * 0x1_0000_0000);
    const ramEnd = p.mem.length;
    const outside = () => ramEnd + Math.floor(r() * 1024) * 4096 + (r() < 0.3 ? 0x10_0000_0000 : 0);
    const t: Tally = { doorbells: 0, cfs: 0, completions: 0, dataTransferErrors: 0, otherErrors: 0, lost: 0, maskFlaps: 0 };
    const rd = (off: number) => p.mmioRead(slot, 0, off, 4);
    const wr = (off: number, v: number) => p.mmioWrite(slot, 0, off, 4, v >>> 0);
    const wr64 = (off: number, v: number) => { wr(off, v % 0x1_0000_0000); wr(off + 4, Math.floor(v / 0x1_0000_0000)); };
    const sq = k.pages.alloc(1);
    const cq = k.pages.alloc(1);
    const buf = k.pages.alloc(2);
    const view = new DataView(p.mem.buffer, p.mem.byteOffset, p.mem.byteLength);

    const waitReady = async (want: boolean): Promise<number> => {
      for (let i = 0; i < 200; i++) {
        const s = await rd(R.CSTS);
        if (((s & CSTS.RDY) !== 0) === want || (s & CSTS.CFS) !== 0) return s;
        await p.sleep(1);
      }
      return rd(R.CSTS);
    };
    const disable = async () => { wr(R.CC, 0); await waitReady(false); };
    const enable = async (asq: number, acq: number): Promise<number> => {
      await disable();
      cq.bytes.fill(0);
      wr(R.AQA, ((ENTRIES - 1) << 16) | (ENTRIES - 1));
      wr64(R.ASQ, asq);
      wr64(R.ACQ, acq);
      wr(R.CC, CC_BASE);
      wr(R.CC, CC_BASE | 1);
      return waitReady(true);
    };
    /** Put n admin commands in the SQ (at sq), ring, and collect completions from the CQ (at cq) by phase tag. */
    let tail = 0;
    let head = 0;
    let phase = 1;
    const submit = async (make: (i: number) => { opc: number; prp1: number; prp2: number; cdw10: number; cdw11?: number }, n: number): Promise<number[]> => {
      for (let i = 0; i < n; i++) {
        const at = sq.gpa + tail * Sqe.size;
        p.mem.fill(0, at, at + Sqe.size);
        const c = make(i);
        view.setUint8(at + Sqe.offset.opc, c.opc);
        view.setUint16(at + Sqe.offset.cid, (tail + 1) & 0xffff, true);
        view.setUint32(at + Sqe.offset.prp1, c.prp1 % 0x1_0000_0000, true);
        view.setUint32(at + Sqe.offset.prp1 + 4, Math.floor(c.prp1 / 0x1_0000_0000), true);
        view.setUint32(at + Sqe.offset.prp2, c.prp2 % 0x1_0000_0000, true);
        view.setUint32(at + Sqe.offset.prp2 + 4, Math.floor(c.prp2 / 0x1_0000_0000), true);
        view.setUint32(at + Sqe.offset.cdw10, c.cdw10 >>> 0, true);
        view.setUint32(at + Sqe.offset.cdw11, (c.cdw11 ?? 0) >>> 0, true);
        tail = (tail + 1) % ENTRIES;
      }
      wr(DOORBELL_BASE, tail);
      const statuses: number[] = [];
      for (let polls = 0; statuses.length < n && polls < 500; polls++) {
        const at = cq.gpa + head * Cqe.size;
        const st = view.getUint16(at + Cqe.offset.status, true);
        if ((st & 1) !== phase) { await p.sleep(1); continue; }
        statuses.push(st >> 1);
        head = (head + 1) % ENTRIES;
        if (head === 0) phase ^= 1;
        wr(DOORBELL_BASE + 4, head);
      }
      t.completions += statuses.length;
      t.lost += n - statuses.length;
      for (const s of statuses) {
        if (s === 0) continue;
        if ((s & 0xff) === 0x04 && ((s >> 8) & 0x7) === 0) t.dataTransferErrors++;
        else t.otherErrors++;
      }
      return statuses;
    };
    const fresh = async (): Promise<boolean> => {
      tail = 0; head = 0; phase = 1;
      const s = await enable(sq.gpa, cq.gpa);
      if ((s & CSTS.CFS) !== 0) t.cfs++;
      return (s & CSTS.RDY) !== 0 && (s & CSTS.CFS) === 0;
    };

    ctx.out(`chaos: ${devName} (slot ${slot}), ${rounds} rounds, seed ${seed}, guest RAM ends at 0x${ramEnd.toString(16)}\n`);
    k.log.warn(`chaos: taking ${devName} away from its driver`);
    for (let round = 0; round < rounds && !ctx.signal.aborted; round++) {
      // 1. Doorbell garbage: any value, any queue, any offset in the doorbell page.
      for (let i = 0; i < 64; i++) {
        const off = DOORBELL_BASE + (r() < 0.8 ? 4 * Math.floor(r() * 34) : Math.floor(r() * 0x1000));
        p.mmioWrite(slot, 0, off, r() < 0.8 ? 4 : 2, u32() & (r() < 0.5 ? 0xffff : 0xffffffff));
        t.doorbells++;
      }
      // 2. Admin rings outside guest RAM: the fetch (or the completion post) must fail as CSTS.CFS, not reach memory.
      for (const [asq, acq] of [[outside(), cq.gpa], [sq.gpa, outside()]] as const) {
        tail = 0; head = 0; phase = 1;
        await enable(asq, acq);
        wr(DOORBELL_BASE, 1 + Math.floor(r() * (ENTRIES - 1)));
        await p.sleep(2);
        if (((await rd(R.CSTS)) & CSTS.CFS) !== 0) t.cfs++;
      }
      // 3. PRPs and PRP lists into memory this guest does not own: Identify into it, a 8 KiB log page whose second
      //    page is outside, a PRP list (Get Log Page, 12 KiB) whose entries point outside.
      if (await fresh()) {
        const list = buf.gpa + 4096;
        view.setUint32(list, outside() % 0x1_0000_0000, true); view.setUint32(list + 4, 0, true);
        view.setUint32(list + 8, outside() % 0x1_0000_0000, true); view.setUint32(list + 12, 0, true);
        await submit((i) => [
          { opc: 0x06, prp1: outside(), prp2: 0, cdw10: 1 },
          { opc: 0x02, prp1: buf.gpa, prp2: outside(), cdw10: ((8192 / 4 - 1) << 16) | 0x02 },
          { opc: 0x02, prp1: buf.gpa, prp2: list, cdw10: ((12288 / 4 - 1) << 16) | 0x02 },
          { opc: 0x06, prp1: buf.gpa + 4096 - 8, prp2: outside(), cdw10: 1 },
        ][i % 4]!, 8);
      }
      // 4. Interrupt storm: bursts of cheap commands, each completing with MSI-X vector 0, with the vector's mask bit
      //    flapping in the MSI-X table meanwhile.
      if (await fresh()) {
        const msix = dev.msix;
        for (let burst = 0; burst < 8; burst++) {
          if (msix) {
            const ctrl = msix.tableOffset + 12;
            p.mmioWrite(slot, msix.tableBar, ctrl, 4, burst & 1);
            t.maskFlaps++;
          }
          await submit(() => ({ opc: 0x0a, prp1: 0, prp2: 0, cdw10: 0x07 }), ENTRIES - 1);
          await p.yield();
        }
        if (msix) p.mmioWrite(slot, msix.tableBar, msix.tableOffset + 12, 4, 0);
      }
      if ((round + 1) % 25 === 0) ctx.out(`chaos: round ${round + 1}: cfs=${t.cfs} data_transfer_errors=${t.dataTransferErrors} completions=${t.completions}\n`);
      await p.yield();
    }
    await disable();
    ctx.out(`chaos: doorbells=${t.doorbells} cfs=${t.cfs} completions=${t.completions} data_transfer_errors=${t.dataTransferErrors} other_errors=${t.otherErrors} lost=${t.lost} msix_mask_flaps=${t.maskFlaps}\n`);
    ctx.out(`chaos: done; ${devName} is disabled (nvme reset ${devName} brings it back)\n`);
    k.pages.release(sq); k.pages.release(cq); k.pages.release(buf);
    return 0;
  },
};

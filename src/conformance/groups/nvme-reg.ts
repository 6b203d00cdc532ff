// NVME-REG-*: controller registers and the enable/reset/shutdown handshakes (NVMe Base 1.4 §3.1, §7.6;
// specs.md §2.2–§2.4; UNH-IOL Group 4/6).
import { AdminOpc, AQA, CAP, CC, CSTS, Cns, NvmeRegs, SHN, SHST } from '../../devices/nvme/regs.ts';
import { Gm } from '../guest.ts';
import { pollUntil } from '../wait.ts';
import { check, defineGroup, hex } from '../types.ts';

const R = NvmeRegs.offset;
const S22 = 'specs.md §2.2 register map';
const S23 = 'specs.md §2.3 CAP/CC/CSTS';
const S24 = 'specs.md §2.4 handshakes';

export const NVME_REG_CASES = defineGroup('NVME-REG', [
  { n: 1, level: 'M', clause: `${S23} CAP`, title: 'CAP: MQES ≥ 1, TO ≥ 1, CSS includes the NVM command set, MPSMIN ≤ MPSMAX',
    async run(ctx) {
      const h = await ctx.nvme();
      const lo = await h.reg(R.CAP);
      const hi = await h.reg(R.CAP + 4);
      check((lo & CAP.MQES_MASK) >= 1, `CAP.MQES ${lo & CAP.MQES_MASK}`);
      check(((lo >>> CAP.TO_SHIFT) & 0xff) >= 1, 'CAP.TO is 0');
      check((hi & CAP.CSS_NVM) !== 0, `CAP.CSS ${hex((hi >>> 5) & 0xff, 2)} lacks NVM (bit 37)`);
      const min = (hi >>> CAP.MPSMIN_SHIFT) & 0xf;
      const max = (hi >>> CAP.MPSMAX_SHIFT) & 0xf;
      check(min <= max, `CAP.MPSMIN ${min} > MPSMAX ${max}`);
      check(min === 0, `CAP.MPSMIN ${min}: 4 KiB pages unsupported`);
    } },
  { n: 2, level: 'M', clause: `${S22} VS`, title: 'VS reports version 1.0 or later with a sane layout',
    async run(ctx) {
      const h = await ctx.nvme();
      const vs = await h.reg(R.VS);
      const major = vs >>> 16;
      check(major >= 1 && major <= 2, `VS ${hex(vs)}`);
    } },
  { n: 3, level: 'M', clause: `${S24} CC.EN → CSTS.RDY`, title: 'CC.EN = 1 with a valid configuration sets CSTS.RDY; CC.EN = 0 clears it',
    async run(ctx) {
      const h = await ctx.nvme();
      const r = await h.enable();
      check(r === 'ready', `CSTS after CC.EN = 1: ${r}`);
      await h.disable();
      check(((await h.reg(R.CSTS)) & CSTS.RDY) === 0, 'CSTS.RDY still 1 after CC.EN = 0');
    } },
  { n: 4, level: 'M', clause: `${S24}; NVMe Base 1.4 §3.1.5 CC.MPS`, title: 'CC.EN = 1 with CC.MPS above CAP.MPSMAX sets CSTS.CFS or never sets RDY',
    async run(ctx) {
      const h = await ctx.nvme();
      const max = (h.capHi >>> CAP.MPSMAX_SHIFT) & 0xf;
      check(max < 15, 'CAP.MPSMAX is 15: no invalid MPS to try');
      const r = await h.enable((h.defaultCc() & ~(CC.MPS_MASK << CC.MPS_SHIFT)) | ((max + 1) << CC.MPS_SHIFT));
      await h.disable().catch(() => undefined);
      check(r !== 'ready', `controller became ready with CC.MPS ${max + 1} > MPSMAX ${max}`);
    } },
  { n: 5, level: 'M', clause: `${S24}; specs.md §2.2 AQA (1…4095)`, title: 'CC.EN = 1 with AQA = 0 sets CSTS.CFS or never sets RDY',
    async run(ctx) {
      const h = await ctx.nvme();
      const r = await h.enable(h.defaultCc(), 0);
      await h.disable().catch(() => undefined);
      check(r !== 'ready', 'controller became ready with zero-sized admin queues');
    } },
  { n: 6, level: 'M', clause: `${S24} CC.SHN → CSTS.SHST`, title: 'a normal shutdown (CC.SHN = 01) ends with CSTS.SHST = 10',
    async run(ctx) {
      const h = await ctx.nvme();
      await h.init();
      h.write(R.CC, h.defaultCc() | (SHN.NORMAL << CC.SHN_SHIFT));
      let shst = -1;
      const done = await pollUntil(async () => {
        shst = ((await h.reg(R.CSTS)) >>> CSTS.SHST_SHIFT) & CSTS.SHST_MASK;
        return shst === SHST.COMPLETE;
      }, h.readyTimeoutMs);
      await h.disable();
      check(done, `CSTS.SHST is ${shst} after CC.SHN = 01`);
    } },
  { n: 7, level: 'M', clause: `${S22} doorbells (0x1000 + (2y)·(4 << DSTRD))`, title: 'admin SQ tail and CQ head doorbells at the CAP.DSTRD stride carry a command to completion',
    async run(ctx) {
      const h = await ctx.nvme();
      await h.init();
      await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER }), 'Identify via doorbell 0x1000');
      await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER }), `Identify after CQ0 head doorbell at ${hex(h.cqDoorbell(0))}`);
    } },
  { n: 8, level: 'M', clause: `${S22} "reserved registers read 0, writes ignored"`, title: 'the reserved register at 0x18 reads 0 and ignores writes',
    async run(ctx) {
      const h = await ctx.nvme();
      h.write(R.rsvd0, 0xffff_ffff);
      const v = await h.reg(R.rsvd0);
      check(v === 0, `0x18 reads ${hex(v)}`);
    } },
  { n: 9, level: 'M', clause: `${S22} AQA/ASQ/ACQ RW; link ordering (posted writes before later reads)`, title: 'AQA, ASQ and ACQ read back what was written',
    async run(ctx) {
      const h = await ctx.nvme();
      await h.disable();
      h.write(R.AQA, 0x001f_001f);
      h.write(R.ASQ, 0x0012_3000);
      h.write(R.ACQ, 0x0045_6000);
      const [aqa, asq, acq] = [await h.reg(R.AQA), await h.reg(R.ASQ), await h.reg(R.ACQ)];
      check((aqa & AQA.WRITABLE) === 0x001f_001f, `AQA ${hex(aqa)}`);
      check(asq === 0x0012_3000 && acq === 0x0045_6000, `ASQ ${hex(asq)} ACQ ${hex(acq)}`);
    } },
  { n: 10, level: 'O', clause: `${S24} controller reset`, title: 'after CC.EN 1 → 0 → 1 the I/O queues are gone (a Read on SQ 1 is not executed)',
    async run(ctx) {
      const h = await ctx.nvmeWithIo();
      await h.init();
      const c = await h.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 1 });
      check(c.code !== 0, 'Delete I/O SQ 1 succeeded after a controller reset: the queue survived it');
    } },
  { n: 11, level: 'M', clause: `${S23} CSTS at reset`, title: 'CSTS is 0 (not ready, no fatal status, no shutdown) while CC.EN = 0',
    async run(ctx) {
      const h = await ctx.nvme();
      await h.disable();
      const v = await h.reg(R.CSTS);
      check((v & (CSTS.RDY | CSTS.CFS | (CSTS.SHST_MASK << CSTS.SHST_SHIFT))) === 0, `CSTS ${hex(v)}`);
    } },
]);

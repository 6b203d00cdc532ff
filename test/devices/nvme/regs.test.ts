// Layouts against specs.md §2.2, §2.5, §2.6: every register offset, SQE and CQE field.
import t from 'tap';
import { Cqe, DOORBELL_BASE, NvmeRegs, Sqe, CC, CSTS, AQA, writeSqe } from '../../../src/devices/nvme/regs.ts';

t.test('BAR0 register offsets match the specs.md §2.2 table', async (t) => {
  const O = NvmeRegs.offset;
  t.same(
    [O.CAP, O.VS, O.INTMS, O.INTMC, O.CC, O.CSTS, O.NSSR, O.AQA, O.ASQ, O.ACQ, O.CMBLOC, O.CMBSZ, O.BPINFO, O.BPRSEL, O.BPMBL, O.CMBMSC, O.CMBSTS, O.NSSD, O.CRTO],
    [0x00, 0x08, 0x0c, 0x10, 0x14, 0x1c, 0x20, 0x24, 0x28, 0x30, 0x38, 0x3c, 0x40, 0x44, 0x48, 0x50, 0x58, 0x64, 0x68],
  );
  t.same([NvmeRegs.sizeOf.CAP, NvmeRegs.sizeOf.ASQ, NvmeRegs.sizeOf.ACQ, NvmeRegs.sizeOf.BPMBL], [8, 8, 8, 8]);
  t.equal(DOORBELL_BASE, 0x1000);
});

t.test('SQE is 64 bytes with fields at the specs.md §2.5 offsets', async (t) => {
  t.equal(Sqe.size, 64);
  t.same(Sqe.offset, {
    opc: 0, flags: 1, cid: 2, nsid: 4, cdw2: 8, cdw3: 12, mptr: 16, prp1: 24, prp2: 32,
    cdw10: 40, cdw11: 44, cdw12: 48, cdw13: 52, cdw14: 56, cdw15: 60,
  });
});

t.test('CQE is 16 bytes with fields at the specs.md §2.6 offsets', async (t) => {
  t.equal(Cqe.size, 16);
  t.same(Cqe.offset, { dw0: 0, dw1: 4, sqhd: 8, sqid: 10, cid: 12, status: 14 });
});

t.test('bit fields: CC, CSTS, AQA', async (t) => {
  t.same([CC.MPS_SHIFT, CC.SHN_SHIFT, CC.IOSQES_SHIFT, CC.IOCQES_SHIFT, CC.CSS_SHIFT], [7, 14, 16, 20, 4]);
  t.same([CSTS.RDY, CSTS.CFS, CSTS.SHST_SHIFT, CSTS.NSSRO], [1, 2, 2, 16]);
  t.equal(AQA.ACQS_SHIFT, 16);
});

t.test('writeSqe encodes the Identify Controller example of specs.md §2.15 byte for byte', async (t) => {
  const b = new Uint8Array(64).fill(0xee);
  writeSqe(new DataView(b.buffer), 0, 7, { opc: 0x06, prp1: 0x12340000, cdw10: 1 });
  const want = new Uint8Array(64);
  want.set([0x06, 0x00, 0x07, 0x00], 0);
  want.set([0x00, 0x00, 0x34, 0x12], 24);
  want[40] = 0x01;
  t.same([...b], [...want]);
});

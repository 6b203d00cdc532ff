// NVME-NVM-*: NVM I/O commands, PRP edge cases, DMA outside the IOMMU window and out-of-range doorbells
// (NVMe Base 1.4 §4.3, §6; specs.md §2.7, §2.9, §2.12; UNH-IOL Group 2 / 5).
import { writeU64Number } from '../../devices/layout.ts';
import { IdCtrl } from '../../devices/nvme/identify.ts';
import { AdminOpc, CAP, Cns, IoOpc } from '../../devices/nvme/regs.ts';
import { Sc } from '../../devices/nvme/status.ts';
import type { SuiteContext } from '../context.ts';
import { Gm, OUTSIDE_WINDOW, PAGE, WINDOW_BYTES } from '../guest.ts';
import { IO_DEPTH, statusName, type NvmeHost } from '../nvme-host.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';
import { expectStatus } from './nvme-adm.ts';

const S29 = 'specs.md §2.9 NVM commands';
const S27 = 'specs.md §2.7 PRP rules';

interface Ns { nsze: number; lbaBytes: number; oncs: number }

async function setup(ctx: SuiteContext): Promise<{ h: NvmeHost; ns: Ns }> {
  const h = await ctx.nvmeWithIo();
  await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER }), 'Identify Controller');
  const oncs = h.view.getUint16(Gm.BUF + 520, true);
  await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, nsid: 1, prp1: Gm.BUF, cdw10: Cns.NAMESPACE }), 'Identify Namespace 1');
  const flbas = h.view.getUint8(Gm.BUF + 26) & 0xf;
  const lbads = (h.view.getUint32(Gm.BUF + 128 + 4 * flbas, true) >>> 16) & 0xff;
  return { h, ns: { nsze: h.u64(Gm.BUF), lbaBytes: 2 ** lbads, oncs } };
}

/** PRP1/PRP2 for [addr, addr+len): PRP2 is the second page or a PRP list at `list` (chained at page ends). */
function prps(h: NvmeHost, addr: number, len: number, list: number = Gm.PRP_LIST): { prp1: number; prp2: number } {
  const first = addr - (addr % PAGE);
  const pages: number[] = [];
  for (let p = first + PAGE; p < addr + len; p += PAGE) pages.push(p);
  if (pages.length === 0) return { prp1: addr, prp2: 0 };
  if (pages.length === 1) return { prp1: addr, prp2: pages[0] ?? 0 };
  let slot = list;
  for (const [i, p] of pages.entries()) {
    const lastInPage = (slot % PAGE) === PAGE - 8;
    if (lastInPage && i < pages.length - 1) {
      const next = slot + 8;
      writeU64Number(h.view, slot, next);
      slot = next;
    }
    writeU64Number(h.view, slot, p);
    slot += 8;
  }
  return { prp1: addr, prp2: list };
}

function rw(opc: number, lba: number, blocks: number, p: { prp1: number; prp2: number }, nsid = 1) {
  return { opc, nsid, ...p, cdw10: lba >>> 0, cdw11: Math.floor(lba / 2 ** 32), cdw12: blocks - 1 };
}

function pattern(h: NvmeHost, at: number, len: number, seed: number): void {
  for (let i = 0; i < len; i++) h.mem[at + i] = (i * 31 + seed) & 0xff;
}

function same(h: NvmeHost, a: number, b: number, len: number): boolean {
  return Buffer.compare(h.mem.subarray(a, a + len), h.mem.subarray(b, b + len)) === 0;
}

export const NVME_NVM_CASES = defineGroup('NVME-NVM', [
  { n: 1, level: 'M', clause: `${S29} Write / Read`, title: 'data written with Write reads back unchanged with Read',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      const len = 8 * ns.lbaBytes;
      pattern(h, Gm.DATA, len, 7);
      h.mem.fill(0, Gm.DATA2, Gm.DATA2 + len);
      await h.expectOk(await h.io(rw(IoOpc.WRITE, 8, 8, prps(h, Gm.DATA, len))), 'Write');
      await h.expectOk(await h.io(rw(IoOpc.READ, 8, 8, prps(h, Gm.DATA2, len))), 'Read');
      check(same(h, Gm.DATA, Gm.DATA2, len), 'data read back differs from data written');
    } },
  { n: 2, level: 'M', clause: `${S29} "SLBA + NLB + 1 > NSZE → LBA Out of Range"`, title: 'Read and Write past the end of the namespace fail with LBA Out of Range',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      expectStatus(await h.io(rw(IoOpc.WRITE, ns.nsze, 1, prps(h, Gm.DATA, ns.lbaBytes))), Sc.LBA_OUT_OF_RANGE, `Write at SLBA ${ns.nsze} = NSZE`);
      expectStatus(await h.io(rw(IoOpc.READ, ns.nsze - 1, 2, prps(h, Gm.DATA, 2 * ns.lbaBytes))), Sc.LBA_OUT_OF_RANGE, 'Read of 2 blocks at NSZE-1');
    } },
  { n: 3, level: 'M', clause: `${S29} Flush`, title: 'Flush on namespace 1 succeeds',
    async run(ctx) { const { h } = await setup(ctx); await h.expectOk(await h.io({ opc: IoOpc.FLUSH, nsid: 1 }), 'Flush'); } },
  { n: 4, level: 'O', clause: `${S29} Write Zeroes (ONCS bit 3)`, title: 'Write Zeroes succeeds and the blocks then read as zeros',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      if ((ns.oncs & 8) === 0) throw new Skip('ONCS bit 3 (Write Zeroes) is not set');
      const len = 4 * ns.lbaBytes;
      pattern(h, Gm.DATA, len, 3);
      await h.expectOk(await h.io(rw(IoOpc.WRITE, 32, 4, prps(h, Gm.DATA, len))), 'Write');
      await h.expectOk(await h.io({ opc: IoOpc.WRITE_ZEROES, nsid: 1, cdw10: 32, cdw12: 3 }), 'Write Zeroes');
      h.mem.fill(0xaa, Gm.DATA2, Gm.DATA2 + len);
      await h.expectOk(await h.io(rw(IoOpc.READ, 32, 4, prps(h, Gm.DATA2, len))), 'Read');
      check(h.mem.subarray(Gm.DATA2, Gm.DATA2 + len).every((b) => b === 0), 'blocks are not zero after Write Zeroes');
    } },
  { n: 5, level: 'O', clause: `${S29} Dataset Management (ONCS bit 2)`, title: 'Dataset Management with Deallocate on one range succeeds',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      if ((ns.oncs & 4) === 0) throw new Skip('ONCS bit 2 (Dataset Management) is not set');
      h.mem.fill(0, Gm.DSM, Gm.DSM + 16);
      h.view.setUint32(Gm.DSM + 4, 8, true);
      writeU64Number(h.view, Gm.DSM + 8, 64);
      await h.expectOk(await h.io({ opc: IoOpc.DATASET_MANAGEMENT, nsid: 1, prp1: Gm.DSM, cdw10: 0, cdw11: 4 }), 'DSM deallocate');
    } },
  { n: 6, level: 'M', clause: `${S27} PRP list (chained at a page end)`, title: 'a transfer with an offset PRP1 and a PRP list that crosses a page boundary round-trips',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      const len = 5 * PAGE;
      const blocks = len / ns.lbaBytes;
      const src = Gm.DATA + 0x200;
      pattern(h, src, len, 11);
      await h.expectOk(await h.io(rw(IoOpc.WRITE, 128, blocks, prps(h, src, len, Gm.PRP_LIST + PAGE - 16))), 'Write through a chained PRP list');
      h.mem.fill(0, Gm.DATA2, Gm.DATA2 + len);
      await h.expectOk(await h.io(rw(IoOpc.READ, 128, blocks, prps(h, Gm.DATA2, len))), 'Read');
      check(same(h, src, Gm.DATA2, len), 'data read back differs from data written through the PRP list');
    } },
  { n: 7, level: 'M', clause: `${S27}; specs.md §2.12 PRP Offset Invalid (0/0x13)`, title: 'a PRP entry after the first with a non-zero offset fails with PRP Offset Invalid',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      const blocks = (2 * PAGE) / ns.lbaBytes;
      expectStatus(await h.io(rw(IoOpc.READ, 0, blocks, { prp1: Gm.DATA, prp2: Gm.DATA + PAGE + 0x100 })), Sc.PRP_OFFSET_INVALID, 'Read with PRP2 offset 0x100');
    } },
  { n: 8, level: 'M', clause: 'specs.md §2.12 Data Transfer Error; §1.2 IOMMU window (docs/link-protocol.md §7)', title: 'DMA outside the mapped IOMMU window fails the command (or is refused by the host IOMMU), leaves that memory untouched, and the card keeps serving',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      pattern(h, Gm.DATA, ns.lbaBytes, 5);
      await h.expectOk(await h.io(rw(IoOpc.WRITE, 0, 1, prps(h, Gm.DATA, ns.lbaBytes))), 'Write of block 0');
      const before = h.outsideSnapshot();
      const faultsBefore = h.rc.faultCount;
      const r = await h.io(rw(IoOpc.READ, 0, 1, { prp1: OUTSIDE_WINDOW, prp2: 0 }));
      // A Read's data goes card → host as posted DMA writes: the host IOMMU refusing them also satisfies the rule.
      const refused = h.rc.faults().slice(-Math.max(1, h.rc.faultCount - faultsBefore)).some((f) => f.fn === h.fn && f.iova === OUTSIDE_WINDOW);
      check(r.code !== 0 || (h.rc.faultCount > faultsBefore && refused), `Read into unmapped memory ${hex(OUTSIDE_WINDOW)} completed successfully and no refused DMA was seen`);
      check(Buffer.compare(before, h.outsideSnapshot()) === 0, 'guest memory outside the window changed');
      const w = await h.io(rw(IoOpc.WRITE, 0, 1, { prp1: OUTSIDE_WINDOW, prp2: 0 }));
      check(w.code !== 0, `Write from unmapped memory ${hex(OUTSIDE_WINDOW)} completed successfully`);
      h.mem.fill(0, Gm.DATA2, Gm.DATA2 + ns.lbaBytes);
      await h.expectOk(await h.io(rw(IoOpc.READ, 0, 1, prps(h, Gm.DATA2, ns.lbaBytes))), 'Read inside the window afterwards');
      check(same(h, Gm.DATA, Gm.DATA2, ns.lbaBytes), 'block 0 changed (the refused Write wrote something)');
    } },
  { n: 9, level: 'O', clause: 'specs.md §2.12 Data Transfer Error (0/0x04)', title: 'the status for DMA outside the window is exactly Data Transfer Error',
    async run(ctx) {
      const { h } = await setup(ctx);
      expectStatus(await h.io(rw(IoOpc.READ, 0, 1, { prp1: WINDOW_BYTES + PAGE, prp2: 0 })), Sc.DATA_TRANSFER_ERROR, 'Read into unmapped memory');
    } },
  { n: 10, level: 'M', clause: 'NVMe Base 1.4 §4.1 doorbell values; specs.md §2.2', title: 'an SQ tail or CQ head doorbell beyond the queue size is ignored and the controller keeps serving',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      h.write(h.sqDoorbell(1), IO_DEPTH + 3);
      h.write(h.cqDoorbell(1), IO_DEPTH + 5);
      await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER }), 'Identify after bad doorbells');
      await h.expectOk(await h.io(rw(IoOpc.READ, 0, 1, prps(h, Gm.DATA2, ns.lbaBytes))), 'Read after bad doorbells');
    } },
  { n: 11, level: 'O', clause: 'NVMe Base 1.4 §5.2 AER Error: Invalid Doorbell Write Value', title: 'an out-of-range doorbell completes an outstanding Async Event Request with an Error event (info 01h)',
    async run(ctx) {
      const { h } = await setup(ctx);
      h.place(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST });
      h.ring(0);
      await h.rc.ping();
      h.write(h.sqDoorbell(1), IO_DEPTH + 3);
      const c = await h.reap(0);
      check(c !== undefined, 'no Asynchronous Event completion');
      check(c.code === 0, `AER completed with ${statusName(c.code)}`);
      check((c.dw0 & 7) === 0 && ((c.dw0 >>> 8) & 0xff) === 1, `AER DW0 ${hex(c.dw0)}: expected type 0 (error), info 01h`);
    } },
  { n: 12, level: 'M', clause: `${S29} "unknown or inactive NSID → Invalid Namespace or Format"`, title: 'a Read naming NSID 0x1234 fails with Invalid Namespace or Format',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      expectStatus(await h.io(rw(IoOpc.READ, 0, 1, prps(h, Gm.DATA2, ns.lbaBytes), 0x1234)), Sc.INVALID_NAMESPACE, 'Read NSID 0x1234');
    } },
  { n: 13, level: 'M', clause: 'specs.md §2.8 "If unsupported → Invalid Command Opcode"', title: 'an unsupported I/O opcode (0x7E) fails with Invalid Command Opcode',
    async run(ctx) { const { h } = await setup(ctx); expectStatus(await h.io({ opc: 0x7e, nsid: 1 }), Sc.INVALID_OPCODE, 'I/O opcode 7Eh'); } },
  { n: 14, level: 'M', clause: 'NVMe Base 1.4 §5.15.2.1 MDTS ("a command that exceeds the transfer size is aborted with Invalid Field in Command")', title: 'a Read one block larger than MDTS allows fails with Invalid Field in Command',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      await h.expectOk(await h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER }), 'Identify Controller');
      const mdts = h.view.getUint8(Gm.BUF + IdCtrl.offset.mdts);
      if (mdts === 0) throw new Skip('MDTS is 0 (no transfer size limit)');
      const mpsmin = (h.capHi >>> CAP.MPSMIN_SHIFT) & 0xf;
      const max = 2 ** mdts * 2 ** (12 + mpsmin);
      const blocks = Math.floor(max / ns.lbaBytes) + 1;
      const at = 0x100000;
      if (at + blocks * ns.lbaBytes > WINDOW_BYTES || blocks > 0x10000 || blocks > ns.nsze) throw new Skip(`MDTS ${mdts} (${max} bytes) is larger than the suite's mapped window allows`);
      expectStatus(await h.io(rw(IoOpc.READ, 0, blocks, prps(h, at, blocks * ns.lbaBytes))), Sc.INVALID_FIELD, `Read of ${blocks} blocks (${blocks * ns.lbaBytes} bytes, MDTS ${max})`);
    } },
  { n: 15, level: 'O', clause: 'link-protocol §4.1 DOORBELL_PUSH (vendor feature C0h Submission Push)', title: 'with Submission Push on, a Read whose SQE comes in a DOORBELL_PUSH frame completes and returns the data like a fetched one',
    async run(ctx) {
      const { h, ns } = await setup(ctx);
      const on = await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: 0xc0, cdw11: 1 });
      if (on.code !== 0) throw new Skip(`Set Features C0h answered ${statusName(on.code)}: the card does not take pushed SQEs`);
      pattern(h, Gm.DATA, ns.lbaBytes, 0x5c);
      await h.expectOk(await h.io(rw(IoOpc.WRITE, 5, 1, prps(h, Gm.DATA, ns.lbaBytes))), 'Write LBA 5');
      h.mem.fill(0, Gm.DATA2, Gm.DATA2 + ns.lbaBytes);
      const cid = h.place(1, rw(IoOpc.READ, 5, 1, prps(h, Gm.DATA2, ns.lbaBytes)));
      h.pushLast(1);
      const c = await h.reap(1);
      check(c !== undefined, 'no completion for the pushed Read');
      check(c.cid === cid && c.code === 0, `pushed Read completed with CID ${c.cid} (sent ${cid}), ${statusName(c.code)}`);
      check(same(h, Gm.DATA, Gm.DATA2, ns.lbaBytes), 'the pushed Read returned other bytes than were written');
      await h.expectOk(await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: 0xc0, cdw11: 0 }), 'Set Features C0h off');
    } },
]);

// NVME-ADM-*: admin commands — Identify, features, queue management and log pages, with their error statuses
// (NVMe Base 1.4 §5; specs.md §2.8, §2.10–§2.12; UNH-IOL Group 1).
import { IdCtrl, Nidt } from '../../devices/nvme/identify.ts';
import { AdminOpc, Cns, Fid, Lid, NvmeRegs } from '../../devices/nvme/regs.ts';
import { Sc } from '../../devices/nvme/status.ts';
import type { SuiteContext } from '../context.ts';
import { Gm } from '../guest.ts';
import { statusName, type CqeOut, type NvmeHost } from '../nvme-host.ts';
import { ADMIN_DEPTH } from '../nvme-host.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';

const S28 = 'specs.md §2.8 admin commands';

export function expectStatus(c: CqeOut, want: number, what: string): void {
  check(c.code === want, `${what}: ${c.code === 0 ? 'succeeded' : statusName(c.code)}, expected ${statusName(want)}`);
}

async function ready(ctx: SuiteContext): Promise<NvmeHost> {
  const h = await ctx.nvme();
  await h.init();
  return h;
}

async function identify(h: NvmeHost, cns: number, nsid = 0): Promise<CqeOut> {
  h.mem.fill(0xee, Gm.BUF, Gm.BUF + 4096);
  return h.admin({ opc: AdminOpc.IDENTIFY, nsid, prp1: Gm.BUF, cdw10: cns });
}

function ascii(h: NvmeHost, off: number, len: number): string {
  return Buffer.from(h.mem.subarray(Gm.BUF + off, Gm.BUF + off + len)).toString('latin1');
}

const logPage = (h: NvmeHost, lid: number, bytes: number) =>
  h.admin({ opc: AdminOpc.GET_LOG_PAGE, nsid: 0xffff_ffff, prp1: Gm.BUF, cdw10: lid | (((bytes / 4) - 1) << 16) });

export const NVME_ADM_CASES = defineGroup('NVME-ADM', [
  { n: 1, level: 'M', clause: 'specs.md §2.10 Identify Controller', title: 'Identify Controller succeeds: VID matches PCI, SN/MN/FR are space-padded ASCII, SQES/CQES minimums 6/4, NN ≥ 1, VER = VS',
    async run(ctx) {
      const h = await ready(ctx);
      await h.expectOk(await identify(h, Cns.CONTROLLER), 'Identify CNS 01h');
      const v = h.view;
      const vid = v.getUint16(Gm.BUF, true);
      check(vid === ctx.nvmeFn().vendorId, `VID ${hex(vid, 4)} != PCI vendor ${hex(ctx.nvmeFn().vendorId, 4)}`);
      for (const [name, off, len] of [['SN', 4, 20], ['MN', 24, 40], ['FR', 64, 8]] as const) {
        check(/^[\x20-\x7e]+$/.test(ascii(h, off, len)), `${name} "${ascii(h, off, len)}" is not printable space-padded ASCII`);
      }
      check((v.getUint8(Gm.BUF + 512) & 0xf) === 6 && (v.getUint8(Gm.BUF + 513) & 0xf) === 4, `SQES ${hex(v.getUint8(Gm.BUF + 512), 2)} CQES ${hex(v.getUint8(Gm.BUF + 513), 2)}`);
      check(v.getUint32(Gm.BUF + 516, true) >= 1, 'NN is 0');
      const ver = v.getUint32(Gm.BUF + 80, true);
      const vs = await h.reg(NvmeRegs.offset.VS);
      check(ver === 0 || ver === vs, `Identify VER ${hex(ver)} != VS ${hex(vs)}`);
    } },
  { n: 2, level: 'M', clause: 'specs.md §2.11 Identify Namespace', title: 'Identify Namespace 1: NSZE ≥ NCAP ≥ NUSE, NSZE > 0, the active LBA format has LBADS ≥ 9',
    async run(ctx) {
      const h = await ready(ctx);
      await h.expectOk(await identify(h, Cns.NAMESPACE, 1), 'Identify CNS 00h NSID 1');
      const [nsze, ncap, nuse] = [h.u64(Gm.BUF), h.u64(Gm.BUF + 8), h.u64(Gm.BUF + 16)];
      check(nsze > 0 && nsze >= ncap && ncap >= nuse, `NSZE ${nsze} NCAP ${ncap} NUSE ${nuse}`);
      const flbas = h.view.getUint8(Gm.BUF + 26) & 0xf;
      check(flbas <= h.view.getUint8(Gm.BUF + 25), `FLBAS ${flbas} > NLBAF`);
      const lbads = (h.view.getUint32(Gm.BUF + 128 + 4 * flbas, true) >>> 16) & 0xff;
      check(lbads >= 9 && lbads <= 16, `LBADS ${lbads}`);
    } },
  { n: 3, level: 'M', clause: 'specs.md §2.8 Identify CNS 02h', title: 'the active namespace list holds NSID 1, ascending and zero padded',
    async run(ctx) {
      const h = await ready(ctx);
      await h.expectOk(await identify(h, Cns.ACTIVE_NS_LIST, 0), 'Identify CNS 02h');
      const ids: number[] = [];
      for (let i = 0; i < 1024; i++) ids.push(h.view.getUint32(Gm.BUF + 4 * i, true));
      const n = ids.indexOf(0);
      const list = ids.slice(0, n < 0 ? 1024 : n);
      check(list.includes(1), `list ${list.slice(0, 8).join(',')} lacks NSID 1`);
      check(list.every((x, i) => i === 0 || x > (list[i - 1] ?? 0)), 'list not ascending');
      check(ids.slice(list.length).every((x) => x === 0), 'list not zero padded');
    } },
  { n: 4, level: 'M', clause: 'specs.md §2.8 "a reserved CNS → Invalid Field"', title: 'Identify with a reserved CNS (0x7F) fails with Invalid Field in Command',
    async run(ctx) { expectStatus(await identify(await ready(ctx), 0x7f), Sc.INVALID_FIELD, 'Identify CNS 7Fh'); } },
  { n: 5, level: 'M', clause: 'specs.md §2.8 CNS 00h "NSID 0 → Invalid Namespace or Format"', title: 'Identify Namespace with NSID 0 fails with Invalid Namespace or Format',
    async run(ctx) { expectStatus(await identify(await ready(ctx), Cns.NAMESPACE, 0), Sc.INVALID_NAMESPACE, 'Identify CNS 00h NSID 0'); } },
  { n: 6, level: 'M', clause: 'specs.md §2.8 FID 07h', title: 'Set Features Number of Queues succeeds and Get Features returns the granted counts',
    async run(ctx) {
      const h = await ready(ctx);
      const s = await h.expectOk(await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0x0003_0003 }), 'Set Features 07h');
      const g = await h.expectOk(await h.admin({ opc: AdminOpc.GET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES }), 'Get Features 07h');
      check(g.dw0 === s.dw0, `Get returned ${hex(g.dw0)}, Set granted ${hex(s.dw0)}`);
    } },
  { n: 7, level: 'M', clause: 'specs.md §2.8 FID 07h "0xFFFF → Invalid Field"', title: 'Set Features Number of Queues with NSQR = 0xFFFF fails with Invalid Field',
    async run(ctx) {
      const h = await ready(ctx);
      expectStatus(await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0x0000_ffff }), Sc.INVALID_FIELD, 'Set Features 07h NSQR 0xFFFF');
    } },
  { n: 8, level: 'M', clause: `${S28} Create I/O CQ/SQ`, title: 'Create I/O CQ then Create I/O SQ succeed',
    async run(ctx) { await ctx.nvmeWithIo(); } },
  { n: 9, level: 'M', clause: `${S28} Create I/O CQ: QID 0 → Invalid QID; QSIZE 0 or > MQES → Invalid Queue Size`, title: 'Create I/O CQ refuses QID 0 and bad queue sizes with the command-specific statuses',
    async run(ctx) {
      const h = await ready(ctx);
      await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0 });
      expectStatus(await h.admin({ opc: AdminOpc.CREATE_IO_CQ, prp1: Gm.IO_CQ, cdw10: (15 << 16) | 0, cdw11: 1 }), Sc.INVALID_QUEUE_ID, 'Create I/O CQ QID 0');
      expectStatus(await h.admin({ opc: AdminOpc.CREATE_IO_CQ, prp1: Gm.IO_CQ, cdw10: (0 << 16) | 1, cdw11: 1 }), Sc.INVALID_QUEUE_SIZE, 'Create I/O CQ QSIZE 0');
      if (h.mqes < 0xffff) {
        expectStatus(await h.admin({ opc: AdminOpc.CREATE_IO_CQ, prp1: Gm.IO_CQ, cdw10: ((h.mqes + 1) << 16) | 1, cdw11: 1 }), Sc.INVALID_QUEUE_SIZE, `Create I/O CQ QSIZE MQES+1 (${h.mqes + 1})`);
      }
    } },
  { n: 10, level: 'M', clause: `${S28} Create I/O CQ "vector out of range → Invalid Interrupt Vector"`, title: 'Create I/O CQ with IV beyond the MSI-X table fails with Invalid Interrupt Vector',
    async run(ctx) {
      const h = await ready(ctx);
      await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0 });
      const l = await h.msixLayout();
      const iv = Math.min(0xffff, (l?.size ?? 2048) + 1);
      expectStatus(await h.admin({ opc: AdminOpc.CREATE_IO_CQ, prp1: Gm.IO_CQ, cdw10: (15 << 16) | 1, cdw11: (iv << 16) | 0b11 }), Sc.INVALID_INTERRUPT_VECTOR, `Create I/O CQ IV ${iv}`);
    } },
  { n: 11, level: 'M', clause: `${S28} Create I/O SQ (CQID must exist)`, title: 'Create I/O SQ naming a CQ that does not exist fails with Completion Queue Invalid',
    async run(ctx) {
      const h = await ready(ctx);
      await h.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0 });
      expectStatus(await h.admin({ opc: AdminOpc.CREATE_IO_SQ, prp1: Gm.IO_SQ, cdw10: (15 << 16) | 1, cdw11: (1 << 16) | 1 }), Sc.COMPLETION_QUEUE_INVALID, 'Create I/O SQ 1 on missing CQ 1');
    } },
  { n: 12, level: 'M', clause: `${S28} Delete I/O CQ "an SQ still uses this CQ → Invalid Queue Deletion"`, title: 'deleting a CQ an SQ still uses fails with Invalid Queue Deletion; deleting SQ then CQ succeeds',
    async run(ctx) {
      const h = await ctx.nvmeWithIo();
      expectStatus(await h.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 1 }), Sc.INVALID_QUEUE_DELETION, 'Delete I/O CQ 1 with SQ 1 attached');
      await h.expectOk(await h.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 1 }), 'Delete I/O SQ 1');
      await h.expectOk(await h.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 1 }), 'Delete I/O CQ 1');
    } },
  { n: 13, level: 'M', clause: `${S28} Delete I/O SQ/CQ "bad QID → Invalid QID"`, title: 'deleting queue 0 or a queue that does not exist fails with Invalid Queue Identifier',
    async run(ctx) {
      const h = await ready(ctx);
      expectStatus(await h.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 0 }), Sc.INVALID_QUEUE_ID, 'Delete I/O SQ 0');
      expectStatus(await h.admin({ opc: AdminOpc.DELETE_IO_CQ, cdw10: 0 }), Sc.INVALID_QUEUE_ID, 'Delete I/O CQ 0');
      expectStatus(await h.admin({ opc: AdminOpc.DELETE_IO_SQ, cdw10: 9 }), Sc.INVALID_QUEUE_ID, 'Delete I/O SQ 9 (never created)');
    } },
  { n: 14, level: 'M', clause: 'specs.md §2.8 LID 02h SMART / Health', title: 'Get Log Page SMART / Health (512 bytes) succeeds with Available Spare ≤ 100 %',
    async run(ctx) {
      const h = await ready(ctx);
      h.mem.fill(0xee, Gm.BUF, Gm.BUF + 512);
      await h.expectOk(await logPage(h, Lid.SMART, 512), 'Get Log Page 02h');
      const spare = h.view.getUint8(Gm.BUF + 3);
      check(spare <= 100, `Available Spare ${spare} %`);
    } },
  { n: 15, level: 'M', clause: 'specs.md §2.8 LID 01h Error Information', title: 'Get Log Page Error Information (one 64-byte entry) succeeds',
    async run(ctx) { const h = await ready(ctx); await h.expectOk(await logPage(h, Lid.ERROR_INFO, 64), 'Get Log Page 01h'); } },
  { n: 16, level: 'M', clause: 'specs.md §2.8 LID 03h Firmware Slot', title: 'Get Log Page Firmware Slot Information (512 bytes) succeeds',
    async run(ctx) { const h = await ready(ctx); await h.expectOk(await logPage(h, Lid.FIRMWARE_SLOT, 512), 'Get Log Page 03h'); } },
  { n: 17, level: 'M', clause: 'specs.md §2.8 "Unknown LID → Invalid Log Page"', title: 'Get Log Page with a reserved LID (0x5F) fails with Invalid Log Page',
    async run(ctx) { expectStatus(await logPage(await ready(ctx), 0x5f, 512), Sc.INVALID_LOG_PAGE, 'Get Log Page 5Fh'); } },
  { n: 18, level: 'M', clause: 'specs.md §2.8 "If unsupported → Invalid Command Opcode"', title: 'an unsupported admin opcode (0x7F) fails with Invalid Command Opcode',
    async run(ctx) { expectStatus(await (await ready(ctx)).admin({ opc: 0x7f }), Sc.INVALID_OPCODE, 'admin opcode 7Fh'); } },
  { n: 19, level: 'O', clause: 'specs.md §2.12 DNR', title: 'Invalid Command Opcode is returned with Do Not Retry set',
    async run(ctx) {
      const c = await (await ready(ctx)).admin({ opc: 0x7f });
      check(c.code !== 0 && c.dnr, `status ${hex(c.status16, 4)} lacks DNR`);
    } },
  { n: 20, level: 'O', clause: 'specs.md §2.6 CQE SQ Head/SQ ID', title: 'admin completions report SQ ID 0 and an SQ Head that advances',
    async run(ctx) {
      const h = await ready(ctx);
      const a = await identify(h, Cns.CONTROLLER);
      const b = await identify(h, Cns.CONTROLLER);
      check(a.sqid === 0 && b.sqid === 0, `SQ IDs ${a.sqid}, ${b.sqid}`);
      check(b.sqhd === (a.sqhd + 1) % 16, `SQ Head ${a.sqhd} then ${b.sqhd}`);
    } },
  { n: 21, level: 'M', clause: 'NVMe Base 1.4 §5.15.2.4 Identify CNS 03h (Namespace Identification Descriptor list; mandatory from 1.3)', title: 'Identify CNS 03h for NSID 1 succeeds with a well-formed descriptor list: known NIDTs with their lengths, ended by NIDT 0, at least one descriptor',
    async run(ctx) {
      const h = await ready(ctx);
      const vs = await h.reg(NvmeRegs.offset.VS);
      if (vs < 0x0001_0300) throw new Skip(`VS ${hex(vs)} is below 1.3, where CNS 03h became mandatory`);
      await h.expectOk(await identify(h, Cns.NS_DESCRIPTORS, 1), 'Identify CNS 03h NSID 1');
      const lens: Record<number, number> = { [Nidt.EUI64]: 8, [Nidt.NGUID]: 16, [Nidt.UUID]: 16, [Nidt.CSI]: 1 };
      let at = 0;
      let n = 0;
      while (at + 4 <= 4096) {
        const nidt = h.view.getUint8(Gm.BUF + at);
        if (nidt === 0) break;
        const nidl = h.view.getUint8(Gm.BUF + at + 1);
        check(lens[nidt] !== undefined, `descriptor ${n}: unknown NIDT ${nidt}`);
        check(nidl === lens[nidt], `descriptor ${n}: NIDT ${nidt} with NIDL ${nidl}, expected ${lens[nidt]}`);
        check(h.mem.subarray(Gm.BUF + at + 4, Gm.BUF + at + 4 + nidl).some((b) => b !== 0) || nidt === Nidt.CSI, `descriptor ${n}: NIDT ${nidt} identifier is all zeros`);
        at += 4 + nidl;
        n++;
      }
      check(n >= 1, 'the descriptor list is empty');
      check(at + 4 <= 4096, 'the list does not end with NIDT 0 inside the 4 KiB buffer');
    } },
  { n: 22, level: 'M', clause: 'NVMe Base 1.4 §5.2 Asynchronous Event Request ("more than AERL + 1 outstanding → Asynchronous Event Request Limit Exceeded"); §5.15.2.1 AERL', title: 'with AERL + 1 Async Event Requests outstanding, one more fails with Asynchronous Event Request Limit Exceeded (1/05h)',
    async run(ctx) {
      const h = await ready(ctx);
      await h.expectOk(await identify(h, Cns.CONTROLLER), 'Identify CNS 01h');
      const aerl = h.view.getUint8(Gm.BUF + IdCtrl.offset.aerl);
      if (aerl + 2 > ADMIN_DEPTH - 2) throw new Skip(`AERL ${aerl} needs more admin queue slots than the suite's ${ADMIN_DEPTH}`);
      for (let i = 0; i <= aerl; i++) h.place(0, { opc: AdminOpc.ASYNC_EVENT_REQUEST });
      h.ring(0);
      const extra = await h.admin({ opc: AdminOpc.ASYNC_EVENT_REQUEST });
      expectStatus(extra, Sc.AER_LIMIT_EXCEEDED, `Async Event Request number ${aerl + 2} (AERL ${aerl})`);
      await h.init(); // a controller reset ends the outstanding requests
    } },
  { n: 23, level: 'O', clause: 'NVMe Base 1.4 §5.1 Abort ("more than ACL + 1 outstanding → Abort Command Limit Exceeded"); §5.15.2.1 ACL', title: 'ACL + 2 Abort commands submitted together each complete, with success or Abort Command Limit Exceeded (1/03h) and nothing else',
    async run(ctx) {
      const h = await ready(ctx);
      await h.expectOk(await identify(h, Cns.CONTROLLER), 'Identify CNS 01h');
      const acl = h.view.getUint8(Gm.BUF + IdCtrl.offset.acl);
      if (acl + 2 > ADMIN_DEPTH - 2) throw new Skip(`ACL ${acl} needs more admin queue slots than the suite's ${ADMIN_DEPTH}`);
      const cids: number[] = [];
      for (let i = 0; i < acl + 2; i++) cids.push(h.place(0, { opc: AdminOpc.ABORT, cdw10: (0xabc << 16) | 1 }));
      h.ring(0);
      for (let i = 0; i < cids.length; i++) {
        const c = await h.reap(0);
        check(c !== undefined, `Abort ${i + 1} of ${cids.length} did not complete`);
        check(c.code === 0 || c.code === Sc.ABORT_LIMIT_EXCEEDED, `Abort completed with ${statusName(c.code)}`);
      }
    } },
]);

// A minimal NVMe host driver over the link (specs.md §2.4–§2.7): registers through REGION_READ/WRITE on BAR0,
// queues and commands in the suite's guest RAM built with the production layouts (src/devices/nvme/regs.ts),
// completions found by polling the CQ phase tag, MSI-X messages captured from rc.onMsi.
import type { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { AdminOpc, AQA, CAP, CC, CQES_LOG2, CSTS, Cqe, DOORBELL_BASE, Fid, NvmeRegs, SQES_LOG2, writeSqe } from '../devices/nvme/regs.ts';
import { Command } from '../devices/pcie/config-space.ts';
import { Failure, hex } from './types.ts';
import { Gm } from './guest.ts';
import { FnHost } from './fn-host.ts';
import { pollUntil } from './wait.ts';

export type { MsixLayout } from './fn-host.ts';

const R = NvmeRegs.offset;
const C = Cqe.offset;

export interface SqeInit {
  opc: number; nsid?: number; prp1?: number; prp2?: number; flags?: number;
  cdw10?: number; cdw11?: number; cdw12?: number; cdw13?: number; cdw14?: number; cdw15?: number;
}

export interface CqeOut { dw0: number; sqhd: number; sqid: number; cid: number; status16: number; code: number; dnr: boolean }

interface SqState { base: number; size: number; tail: number; cq: CqState }
interface CqState { base: number; size: number; head: number; phase: number }

export const ADMIN_DEPTH = 16;
export const IO_DEPTH = 16;

export function statusName(code: number): string {
  return `SCT ${(code >> 8) & 7} SC ${hex(code & 0xff, 2)}`;
}

export class NvmeHost extends FnHost {
  capLo = 0;
  capHi = 0;
  private sqs = new Map<number, SqState>();
  private nextCid = 1;

  /** Bind fn to `rc` with fresh guest RAM, map the low window, enable Memory Space and Bus Master. */
  static async attach(rc: RootComplex, fn: number, timeoutMs: number): Promise<NvmeHost> {
    const h = new NvmeHost(rc, fn, timeoutMs);
    await h.bindWindow();
    h.capLo = await h.reg(R.CAP);
    h.capHi = await h.reg(R.CAP + 4);
    return h;
  }

  get stride(): number { return 4 << ((this.capHi >>> CAP.DSTRD_SHIFT) & 0xf); }
  get mqes(): number { return this.capLo & CAP.MQES_MASK; }
  /** CAP.TO in ms, bounded by the suite's own limit. */
  get readyTimeoutMs(): number { return Math.min(Math.max(1, (this.capLo >>> CAP.TO_SHIFT) & 0xff) * 500, Math.max(this.timeoutMs, 2000)); }

  reg(off: number): Promise<number> { return this.rc.barRead(this.fn, 0, off, 4).then((v) => v >>> 0); }
  write(off: number, v: number): void { this.rc.barWrite(this.fn, 0, off, 4, v >>> 0); }
  sqDoorbell(qid: number): number { return DOORBELL_BASE + 2 * qid * this.stride; }
  cqDoorbell(qid: number): number { return DOORBELL_BASE + (2 * qid + 1) * this.stride; }

  /** CC.EN = 0 and wait for CSTS.RDY = 0. */
  async disable(): Promise<void> {
    this.write(R.CC, 0);
    const ok = await pollUntil(async () => ((await this.reg(R.CSTS)) & CSTS.RDY) === 0, this.readyTimeoutMs);
    if (!ok) throw new Failure('CSTS.RDY stayed 1 after CC.EN was cleared');
    this.sqs.clear();
  }

  /** A valid CC for this controller, with EN set. */
  defaultCc(): number {
    return CC.EN | (0 << CC.MPS_SHIFT) | (SQES_LOG2 << CC.IOSQES_SHIFT) | (CQES_LOG2 << CC.IOCQES_SHIFT);
  }

  /** Program the admin queue and write CC; resolve with what CSTS did: 'ready', 'cfs' or 'timeout'. */
  async enable(cc = this.defaultCc(), aqa = ((ADMIN_DEPTH - 1) << AQA.ACQS_SHIFT) | (ADMIN_DEPTH - 1)): Promise<'ready' | 'cfs' | 'timeout'> {
    await this.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
    await this.disable();
    this.mem.fill(0, Gm.ASQ, Gm.ACQ + 0x1000);
    this.write(R.AQA, aqa);
    this.write(R.ASQ, Gm.ASQ);
    this.write(R.ASQ + 4, 0);
    this.write(R.ACQ, Gm.ACQ);
    this.write(R.ACQ + 4, 0);
    this.write(R.CC, cc);
    let result = 'timeout' as 'ready' | 'cfs' | 'timeout';
    await pollUntil(async () => {
      const csts = await this.reg(R.CSTS);
      if (csts & CSTS.CFS) result = 'cfs';
      else if (csts & CSTS.RDY) result = 'ready';
      return result !== 'timeout';
    }, this.readyTimeoutMs);
    if (result === 'ready') {
      const cq: CqState = { base: Gm.ACQ, size: ADMIN_DEPTH, head: 0, phase: 1 };
      this.sqs.set(0, { base: Gm.ASQ, size: ADMIN_DEPTH, tail: 0, cq });
    }
    return result;
  }

  /** Enable with defaults or fail. */
  async init(): Promise<void> {
    const r = await this.enable();
    if (r !== 'ready') throw new Failure(`controller did not become ready with a valid configuration (${r})`);
  }

  /** Set Features Number of Queues, then Create I/O CQ 1 (IV 1) and SQ 1. */
  async createIoQueues(): Promise<void> {
    await this.expectOk(await this.admin({ opc: AdminOpc.SET_FEATURES, cdw10: Fid.NUMBER_OF_QUEUES, cdw11: 0 }), 'Set Features Number of Queues');
    this.mem.fill(0, Gm.IO_CQ, Gm.IO_CQ + 0x1000);
    await this.expectOk(await this.admin({ opc: AdminOpc.CREATE_IO_CQ, prp1: Gm.IO_CQ, cdw10: ((IO_DEPTH - 1) << 16) | 1, cdw11: (1 << 16) | 0b11 }), 'Create I/O CQ 1');
    await this.expectOk(await this.admin({ opc: AdminOpc.CREATE_IO_SQ, prp1: Gm.IO_SQ, cdw10: ((IO_DEPTH - 1) << 16) | 1, cdw11: (1 << 16) | 0b1 }), 'Create I/O SQ 1');
    this.sqs.set(1, { base: Gm.IO_SQ, size: IO_DEPTH, tail: 0, cq: { base: Gm.IO_CQ, size: IO_DEPTH, head: 0, phase: 1 } });
  }

  async expectOk(c: CqeOut, what: string): Promise<CqeOut> {
    if (c.code !== 0) throw new Failure(`${what} failed: ${statusName(c.code)}`);
    return c;
  }

  admin(s: SqeInit): Promise<CqeOut> { return this.submit(0, s); }
  io(s: SqeInit): Promise<CqeOut> { return this.submit(1, s); }

  /** Put an SQE in SQ `qid` without ringing; returns its CID. */
  place(qid: number, s: SqeInit): number {
    const sq = this.sqs.get(qid);
    if (sq === undefined) throw new Error(`SQ ${qid} is not set up`);
    const cid = this.nextCid;
    this.nextCid = (cid % 0xfff0) + 1;
    const at = sq.base + sq.tail * 64;
    writeSqe(this.view, at, cid, s);
    sq.tail = (sq.tail + 1) % sq.size;
    return cid;
  }

  ring(qid: number): void {
    const sq = this.sqs.get(qid);
    if (sq !== undefined) this.write(this.sqDoorbell(qid), sq.tail);
  }

  /** Ring SQ qid's tail doorbell as a DOORBELL_PUSH carrying the SQE placed last (docs/link-protocol.md §4.1). */
  pushLast(qid: number): void {
    const sq = this.sqs.get(qid);
    if (sq === undefined) throw new Error(`SQ ${qid} is not set up`);
    const slot = (sq.tail + sq.size - 1) % sq.size;
    const at = sq.base + slot * 64;
    this.rc.barPush(this.fn, 0, this.sqDoorbell(qid), sq.tail, slot, 64, this.mem.slice(at, at + 64));
  }

  async submit(qid: number, s: SqeInit): Promise<CqeOut> {
    const cid = this.place(qid, s);
    this.ring(qid);
    const c = await this.reap(qid);
    if (c === undefined) throw new Failure(`no completion for opcode ${hex(s.opc, 2)} on SQ ${qid} within ${this.timeoutMs} ms`);
    if (c.cid !== cid) throw new Failure(`completion carries CID ${c.cid}, the command had CID ${cid}`);
    return c;
  }

  /** The next completion on SQ qid's CQ, or undefined if none arrives in time. */
  async reap(qid: number, ms = this.timeoutMs): Promise<CqeOut | undefined> {
    const sq = this.sqs.get(qid);
    if (sq === undefined) throw new Error(`SQ ${qid} is not set up`);
    const cq = sq.cq;
    const at = (): number => cq.base + cq.head * 16;
    const got = await pollUntil(() => (this.view.getUint16(at() + C.status, true) & 1) === cq.phase, ms);
    if (!got) return undefined;
    const v = this.view;
    const a = at();
    const status16 = v.getUint16(a + C.status, true);
    const out: CqeOut = {
      dw0: v.getUint32(a + C.dw0, true), sqhd: v.getUint16(a + C.sqhd, true), sqid: v.getUint16(a + C.sqid, true),
      cid: v.getUint16(a + C.cid, true), status16, code: (status16 >> 1) & 0x7ff, dnr: (status16 & 0x8000) !== 0,
    };
    cq.head = (cq.head + 1) % cq.size;
    if (cq.head === 0) cq.phase ^= 1;
    this.write(this.cqDoorbell(qid), cq.head);
    return out;
  }
}

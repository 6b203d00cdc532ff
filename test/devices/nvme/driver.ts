// A minimal NVMe host driver for tests: drives the controller's BAR0 region directly over a FakeHost (guest memory,
// DMA windows, MSI-X capture). It builds SQEs with the production layouts and reads CQEs the way a host does.
import { FakeHost } from '../../helpers/fake-host.ts';
import { viewOf } from '../../../src/devices/layout.ts';
import { NvmeController, type NvmeControllerOptions } from '../../../src/devices/nvme/nvme.ts';
import { AdminOpc, Cqe, DOORBELL_BASE, NvmeRegs, Sqe, writeSqe, type SqeFields } from '../../../src/devices/nvme/regs.ts';
import type { BarRegion } from '../../../src/devices/contract.ts';
import { MemBackendStandIn } from './mem-backend.ts';

export const ASQ_BASE = 0x10000;
export const ACQ_BASE = 0x20000;
export const IO_SQ_BASE = (qid: number): number => 0x100000 + qid * 0x10000;
export const IO_CQ_BASE = (qid: number): number => 0x300000 + qid * 0x10000;
/** Data buffers for tests start here (page aligned). */
export const DATA = 0x800000;

/** An SQE as the tests write it: the host-side fields of src/devices/nvme/regs.ts, and a CID of their choosing. */
export type SqeInit = SqeFields & { cid?: number };

export interface CqeOut {
  dw0: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** The status halfword as written, phase included. */
  status16: number;
  /** The status halfword with P forced to 1 (the form specs.md §2.6 tabulates). */
  st: number;
}

interface SqState { base: number; size: number; tail: number; nextCid: number }
interface CqState { base: number; size: number; head: number; phase: number }

export class TestDriver {
  readonly host: FakeHost;
  readonly ctrl: NvmeController;
  readonly bar: BarRegion;
  readonly backend: MemBackendStandIn;
  readonly sqs = new Map<number, SqState>();
  readonly cqs = new Map<number, CqState>();
  readonly stride: number;

  constructor(opts: NvmeControllerOptions = {}, backendBytes = 1 << 20, memBytes = 16 << 20) {
    this.host = new FakeHost(memBytes);
    this.ctrl = new NvmeController(this.host.context(), opts);
    this.bar = this.ctrl.bars[0]!.region;
    this.backend = new MemBackendStandIn(backendBytes);
    this.stride = 4 << (opts.dstrd ?? 0);
  }

  r32(off: number): number { return this.bar.read(off, 4); }
  w32(off: number, v: number): void { this.bar.write(off, 4, v); }
  csts(): number { return this.r32(NvmeRegs.offset.CSTS); }

  /** Write AQA/ASQ/ACQ and CC (MPS 0, IOSQES 6, IOCQES 4), then set EN, as Linux does. */
  enable(opts: { asqs?: number; acqs?: number; cc?: number } = {}): void {
    const asqs = opts.asqs ?? 32;
    const acqs = opts.acqs ?? 32;
    const R = NvmeRegs.offset;
    this.host.mem.fill(0, ACQ_BASE, ACQ_BASE + acqs * Cqe.size); // a host zeroes CQ memory: every P starts at 0
    this.w32(R.AQA, ((acqs - 1) << 16) | (asqs - 1));
    this.w32(R.ASQ, ASQ_BASE);
    this.w32(R.ASQ + 4, 0);
    this.w32(R.ACQ, ACQ_BASE);
    this.w32(R.ACQ + 4, 0);
    const cc = opts.cc ?? ((6 << 16) | (4 << 20));
    this.w32(R.CC, cc);
    this.w32(R.CC, cc | 1);
    this.sqs.set(0, { base: ASQ_BASE, size: asqs, tail: 0, nextCid: 1 });
    this.cqs.set(0, { base: ACQ_BASE, size: acqs, head: 0, phase: 1 });
  }

  disable(): void {
    const R = NvmeRegs.offset;
    this.w32(R.CC, this.r32(R.CC) & ~1);
    this.sqs.clear();
    this.cqs.clear();
  }

  sqDoorbell(qid: number): number { return DOORBELL_BASE + 2 * qid * this.stride; }
  cqDoorbell(qid: number): number { return DOORBELL_BASE + (2 * qid + 1) * this.stride; }

  /** Write an SQE at the SQ tail and advance the tail (no doorbell). Returns the CID used. */
  place(qid: number, e: SqeInit): number {
    const sq = this.sqs.get(qid);
    if (sq === undefined) throw new Error(`test driver: no SQ ${qid}`);
    const cid = e.cid ?? (sq.nextCid++ & 0xffff);
    writeSqe(this.host.view, sq.base + sq.tail * Sqe.size, cid, e);
    sq.tail = (sq.tail + 1) % sq.size;
    return cid;
  }

  ring(qid: number): void {
    const sq = this.sqs.get(qid);
    if (sq === undefined) throw new Error(`test driver: no SQ ${qid}`);
    this.w32(this.sqDoorbell(qid), sq.tail);
  }

  submit(qid: number, e: SqeInit): number {
    const cid = this.place(qid, e);
    this.ring(qid);
    return cid;
  }

  /** The CQE at the CQ head if its phase says it is new, else null (does not consume it). */
  peek(qid: number): CqeOut | null {
    const cq = this.cqs.get(qid);
    if (cq === undefined) throw new Error(`test driver: no CQ ${qid}`);
    const off = cq.base + cq.head * Cqe.size;
    const v = this.host.view;
    const O = Cqe.offset;
    const status16 = v.getUint16(off + O.status, true);
    if ((status16 & 1) !== cq.phase) return null;
    return {
      dw0: v.getUint32(off + O.dw0, true),
      sqhd: v.getUint16(off + O.sqhd, true),
      sqid: v.getUint16(off + O.sqid, true),
      cid: v.getUint16(off + O.cid, true),
      status16,
      st: status16 | 1,
    };
  }

  /** Consume the head CQE: advance head (flipping phase at the wrap); ring CQyHDBL when `ack`. */
  consume(qid: number, ack = true): void {
    const cq = this.cqs.get(qid)!;
    cq.head++;
    if (cq.head === cq.size) { cq.head = 0; cq.phase ^= 1; }
    if (ack) this.w32(this.cqDoorbell(qid), cq.head);
  }

  /** Let the controller run, then take the next CQE (throws if none arrives: the test fails, it never hangs). */
  async next(qid: number, ack = true): Promise<CqeOut> {
    for (let i = 0; i < 50; i++) {
      const c = this.peek(qid);
      if (c !== null) { this.consume(qid, ack); return c; }
      await this.host.settle(2);
    }
    throw new Error(`test driver: no completion on CQ ${qid}`);
  }

  /** Drain every CQE currently available after letting the controller run. */
  async drain(qid: number, ack = true): Promise<CqeOut[]> {
    await this.host.settle(10);
    const out: CqeOut[] = [];
    for (let c = this.peek(qid); c !== null; c = this.peek(qid)) { out.push(c); this.consume(qid, ack); }
    return out;
  }

  async admin(e: SqeInit): Promise<CqeOut> {
    this.submit(0, e);
    return this.next(0);
  }

  /** Create I/O CQ then SQ `qid` (IEN=1, IV=qid unless given). Returns the two completions' status halfwords. */
  async createIoQueues(qid: number, size = 64, opts: { iv?: number; ien?: boolean; cqSize?: number } = {}): Promise<[number, number]> {
    const cqSize = opts.cqSize ?? size;
    const iv = opts.iv ?? qid;
    this.host.mem.fill(0, IO_CQ_BASE(qid), IO_CQ_BASE(qid) + cqSize * Cqe.size);
    const ien = opts.ien ?? true;
    const a = await this.admin({
      opc: AdminOpc.CREATE_IO_CQ, prp1: IO_CQ_BASE(qid), cdw10: ((cqSize - 1) << 16) | qid,
      cdw11: (iv << 16) | (ien ? 2 : 0) | 1,
    });
    if (a.st === 1) this.cqs.set(qid, { base: IO_CQ_BASE(qid), size: cqSize, head: 0, phase: 1 });
    const b = await this.admin({
      opc: AdminOpc.CREATE_IO_SQ, prp1: IO_SQ_BASE(qid), cdw10: ((size - 1) << 16) | qid, cdw11: (qid << 16) | 1,
    });
    if (b.st === 1) this.sqs.set(qid, { base: IO_SQ_BASE(qid), size, tail: 0, nextCid: 1 });
    return [a.st, b.st];
  }

  /** Enable, attach the stand-in backend as NSID 1 and create I/O queue pair 1. */
  async ready(lbaSize = 512, qsize = 64): Promise<void> {
    this.ctrl.attachNamespace(1, this.backend, lbaSize);
    this.enable();
    await this.createIoQueues(1, qsize);
  }

  fill(addr: number, len: number, seed: number): Uint8Array {
    const b = this.host.mem.subarray(addr, addr + len);
    for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
  }

  u32(addr: number): number { return viewOf(this.host.mem).getUint32(addr, true); }
}

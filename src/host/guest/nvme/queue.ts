// One NVMe queue pair as the host driver sees it (specs.md §2.5–2.6): the driver produces SQ entries and rings the
// tail doorbell; the controller produces CQ entries whose phase tag flips on every wrap; the driver consumes them
// and rings the CQ head doorbell. Command IDs carry a tag (slot in `inflight`) and a generation to catch stale CQEs.
//
//        SQ (host writes)                         CQ (device writes, P = phase tag)
//   +---+---+---+---+---+---+               +---+---+---+---+---+---+
//   |   | c | c | c |   |   |               | 1 | 1 | 1 | 0 | 0 | 0 |   expected phase = 1
//   +---+---+---+---+---+---+               +---+---+---+---+---+---+
//         ^sqHead     ^sqTail                 ^cqHead     ^ first stale entry: stop here
//   (sqHead comes from CQE.SQHD)              after the last slot, head wraps to 0 and the expected phase flips
import { Cqe, Sqe, STATUS } from './regs.ts';
import { writeSqe, type SqeFields } from '../../../devices/nvme/regs.ts';
import type { DmaBuffer } from '../page-alloc.ts';

/** A command as the driver builds it (the host-side SQE fields of regs.ts); unset dwords are 0. */
export type NvmeCommand = SqeFields;

export interface NvmeCompletion {
  readonly dw0: number;
  readonly dw1: number;
  /** Raw status halfword without the phase bit (0 = success). */
  readonly status: number;
  readonly sqhd: number;
}

export interface Inflight {
  readonly tag: number;
  readonly cid: number;
  readonly opc: number;
  readonly submittedNs: bigint;
  /** 0n = never times out (Async Event Requests). */
  deadlineNs: bigint;
  /** Set once the timeout handler has acted on this command (an Abort was sent). */
  abortSent: boolean;
  resolve(c: NvmeCompletion): void;
  reject(err: Error): void;
}

/** Status fields of a completion (its `status` is the halfword shifted right past the phase tag). */
export const statusOf = (c: NvmeCompletion): { sc: number; sct: number; dnr: boolean } => ({
  sc: c.status & 0xff,
  sct: (c.status >>> 8) & 0x7,
  dnr: ((c.status >>> 14) & 1) === 1,
});

export interface QueueOptions {
  readonly qid: number;
  readonly depth: number;
  readonly sq: DmaBuffer;
  readonly cq: DmaBuffer;
  /** Posted write of a doorbell value at a BAR0 offset. */
  readonly ring: (offset: number, value: number) => void;
  readonly sqDoorbell: number;
  readonly cqDoorbell: number;
  readonly vector: number;
  readonly now: () => bigint;
  /** Called for device misbehaviour the queue survives (bad CID, bad SQHD). */
  readonly warn: (text: string) => void;
  /** Called after a command is in flight (the controller starts its timeout watchdog). */
  readonly onSubmit?: () => void;
  /** Posted SQ tail doorbell carrying the SQEs written since the last one (`start` = their first slot); used
   *  while `NvmeQueue.push` is on (vendor feature Submission Push, over a link with DOORBELL_PUSH). */
  readonly push?: (offset: number, value: number, start: number, entries: Uint8Array) => void;
}

const TAG_BITS = 12;
const TAG_MASK = (1 << TAG_BITS) - 1;

export class NvmeQueue {
  readonly qid: number;
  readonly depth: number;
  readonly vector: number;
  readonly sq: DmaBuffer;
  readonly cq: DmaBuffer;
  private readonly opts: QueueOptions;
  private readonly sqView: DataView;
  private readonly cqView: DataView;
  private sqTail = 0;
  private sqHead = 0;
  private cqHead = 0;
  private phase = 1;
  private readonly inflight: (Inflight | undefined)[];
  private readonly freeTags: number[] = [];
  private readonly generation: Uint8Array;
  private readonly waiters: (() => void)[] = [];
  /** Ring the SQ doorbell with the new SQE pushed along (opts.push), instead of a plain doorbell write. */
  push = false;
  /** Stats. */
  submitted = 0;
  pushedSqes = 0;
  completed = 0;
  badCompletions = 0;

  constructor(opts: QueueOptions) {
    if (opts.depth < 2 || opts.depth > TAG_MASK + 1) throw new RangeError(`queue depth ${opts.depth} out of range 2..${TAG_MASK + 1}`);
    this.opts = opts;
    this.qid = opts.qid;
    this.depth = opts.depth;
    this.vector = opts.vector;
    this.sq = opts.sq;
    this.cq = opts.cq;
    this.sqView = new DataView(opts.sq.bytes.buffer, opts.sq.bytes.byteOffset, opts.depth * Sqe.size);
    this.cqView = new DataView(opts.cq.bytes.buffer, opts.cq.bytes.byteOffset, opts.depth * Cqe.size);
    this.inflight = new Array<Inflight | undefined>(opts.depth - 1).fill(undefined);
    this.generation = new Uint8Array(opts.depth - 1);
    for (let t = opts.depth - 2; t >= 0; t--) this.freeTags.push(t);
  }

  /** Commands submitted and not yet completed. */
  get outstanding(): number {
    return this.depth - 1 - this.freeTags.length;
  }

  private sqFull(): boolean {
    return (this.sqTail + 1) % this.depth === this.sqHead;
  }

  /** Wait until a tag and an SQ slot are free (queue depth back-pressure). */
  private async slot(): Promise<number> {
    while (this.freeTags.length === 0 || this.sqFull()) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.freeTags.pop() as number;
  }

  /**
   * Write the command into the next SQ slot and ring the tail doorbell. Resolves with the completion, whatever its
   * status; rejects only if the command is cancelled (timeout, reset). `timeoutMs` 0 = no timeout.
   */
  async submit(cmd: NvmeCommand, timeoutMs: number): Promise<NvmeCompletion> {
    // Fast path without an await, so the command is in flight when submit() returns its promise.
    const tag = this.freeTags.length > 0 && !this.sqFull() ? (this.freeTags.pop() as number) : await this.slot();
    const gen = (this.generation[tag] = ((this.generation[tag] ?? 0) + 1) & 0xf);
    const cid = (gen << TAG_BITS) | tag;
    const now = this.opts.now();
    const done = new Promise<NvmeCompletion>((resolve, reject) => {
      this.inflight[tag] = {
        tag, cid, opc: cmd.opc, submittedNs: now,
        deadlineNs: timeoutMs > 0 ? now + BigInt(Math.round(timeoutMs * 1e6)) : 0n,
        abortSent: false, resolve, reject,
      };
    });
    const slot = this.sqTail;
    this.writeSqe(slot, cid, cmd);
    this.sqTail = (this.sqTail + 1) % this.depth;
    this.submitted++;
    if (this.push && this.opts.push !== undefined) {
      this.pushedSqes++;
      this.opts.push(this.opts.sqDoorbell, this.sqTail, slot, this.sq.bytes.subarray(slot * Sqe.size, (slot + 1) * Sqe.size));
    } else this.opts.ring(this.opts.sqDoorbell, this.sqTail);
    this.opts.onSubmit?.();
    return done;
  }

  private writeSqe(index: number, cid: number, cmd: NvmeCommand): void {
    writeSqe(this.sqView, index * Sqe.size, cid, cmd);
  }

  /** Consume every new CQE (phase tag matches), complete its command, then ring the CQ head doorbell once. */
  processCompletions(): number {
    const v = this.cqView;
    const O = Cqe.offset;
    let n = 0;
    for (;;) {
      const base = this.cqHead * Cqe.size;
      const status = v.getUint16(base + O.status, true);
      if ((status & STATUS.P) !== this.phase) break;
      const cid = v.getUint16(base + O.cid, true);
      const sqhd = v.getUint16(base + O.sqhd, true);
      const completion: NvmeCompletion = {
        dw0: v.getUint32(base + O.dw0, true),
        dw1: v.getUint32(base + O.dw1, true),
        status: status >>> 1,
        sqhd,
      };
      this.cqHead++;
      if (this.cqHead === this.depth) {
        this.cqHead = 0;
        this.phase ^= 1;
      }
      n++;
      if (sqhd < this.depth) this.sqHead = sqhd;
      else this.opts.warn(`nvme queue ${this.qid}: CQE with SQHD ${sqhd} beyond depth ${this.depth}`);
      const tag = cid & TAG_MASK;
      const rec = this.inflight[tag];
      if (!rec || rec.cid !== cid) {
        this.badCompletions++;
        this.opts.warn(`nvme queue ${this.qid}: invalid id ${cid} completed`);
        continue;
      }
      this.release(tag);
      this.completed++;
      rec.resolve(completion);
    }
    if (n > 0) this.opts.ring(this.opts.cqDoorbell, this.cqHead);
    return n;
  }

  private release(tag: number): void {
    this.inflight[tag] = undefined;
    this.freeTags.push(tag);
    const w = this.waiters.shift();
    if (w) w();
  }

  /** Commands past their deadline that have not yet been acted on. */
  expired(nowNs: bigint): Inflight[] {
    const out: Inflight[] = [];
    for (const r of this.inflight) if (r && r.deadlineNs !== 0n && nowNs >= r.deadlineNs) out.push(r);
    return out;
  }

  /** Look up an in-flight command by its CID. */
  find(cid: number): Inflight | undefined {
    const r = this.inflight[cid & TAG_MASK];
    return r?.cid === cid ? r : undefined;
  }

  /** Give up on one command (its deadline passed while the controller was not live); a late CQE for it is stale. */
  cancel(rec: Inflight, err: Error): void {
    if (this.inflight[rec.tag] !== rec) return;
    this.release(rec.tag);
    rec.reject(err);
  }

  /** Commands in flight that have a deadline (excludes Async Event Requests). */
  get timedOutstanding(): number {
    let n = 0;
    for (const r of this.inflight) if (r && r.deadlineNs !== 0n) n++;
    return n;
  }

  /** Reject every in-flight command (the controller will never complete them: reset or shutdown). */
  cancelAll(err: () => Error): void {
    for (let t = 0; t < this.inflight.length; t++) {
      const r = this.inflight[t];
      if (!r) continue;
      this.release(t);
      r.reject(err());
    }
  }

  /** Back to the state after creation (controller reset): empty rings, expected phase 1, CQ memory zeroed. */
  resetRings(): void {
    this.sqTail = 0;
    this.sqHead = 0;
    this.cqHead = 0;
    this.phase = 1;
    this.cq.bytes.fill(0);
  }

  /** Wake every waiter so it re-checks (after cancelAll or resetRings). */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

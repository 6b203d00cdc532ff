// One fetched submission queue entry while it runs: the decoded SQE fields, its PRP segments and its result.
// Command objects are pooled by the controller so the hot path allocates nothing per I/O.
import { readU64Number } from '../layout.ts';
import { Sqe } from './regs.ts';
import { Sc } from './status.ts';

const O = Sqe.offset;

export class Command {
  // Decoded SQE (specs.md §2.5). PRP fields are -1 when the address does not fit in 2^53.
  opc = 0;
  flags = 0;
  cid = 0;
  nsid = 0;
  prp1 = 0;
  prp2 = 0;
  cdw10 = 0;
  cdw11 = 0;
  cdw12 = 0;
  cdw13 = 0;
  cdw14 = 0;
  cdw15 = 0;

  sqid = 0;
  /** Controller generation at fetch; a reset bumps it and the command's completion is dropped. */
  gen = 0;
  /** Non-zero once the command was aborted (Abort, SQ deletion): the status reported instead of its own. */
  abortStatus = 0;
  traced = false;
  startNs = 0n;

  // Result.
  status: number = Sc.SUCCESS;
  dw0 = 0;
  /** LBA to record in the error log when the command fails (-1: none). */
  errorLba = -1;

  // PRP segments, merged where physically contiguous (see prp.ts).
  readonly segAddr: number[] = [];
  readonly segLen: number[] = [];
  segCount = 0;
  /** A page-sized scratch for PRP list pages, allocated on first use and kept with the pooled command. */
  listBuf: Uint8Array | null = null;

  /** Decode the SQE at `off` in `v`. */
  load(v: DataView, off: number, sqid: number, gen: number): void {
    this.opc = v.getUint8(off + O.opc);
    this.flags = v.getUint8(off + O.flags);
    this.cid = v.getUint16(off + O.cid, true);
    this.nsid = v.getUint32(off + O.nsid, true);
    this.prp1 = readU64Number(v, off + O.prp1);
    this.prp2 = readU64Number(v, off + O.prp2);
    this.cdw10 = v.getUint32(off + O.cdw10, true);
    this.cdw11 = v.getUint32(off + O.cdw11, true);
    this.cdw12 = v.getUint32(off + O.cdw12, true);
    this.cdw13 = v.getUint32(off + O.cdw13, true);
    this.cdw14 = v.getUint32(off + O.cdw14, true);
    this.cdw15 = v.getUint32(off + O.cdw15, true);
    this.sqid = sqid;
    this.gen = gen;
    this.abortStatus = 0;
    this.traced = false;
    this.status = Sc.SUCCESS;
    this.dw0 = 0;
    this.errorLba = -1;
    this.segCount = 0;
  }

  /** Set the result status (a status field, see status.ts) and return it. */
  fail(field: number): number {
    this.status = field;
    return field;
  }
}

/** A free list of Command objects. */
export class CommandPool {
  private readonly free: Command[] = [];
  take(): Command {
    return this.free.pop() ?? new Command();
  }
  give(cmd: Command): void {
    if (this.free.length < 4096) this.free.push(cmd);
  }
}

// An NVMe namespace as a block device (specs.md §2.9): Read/Write with PRPs built from allocator pages, Flush when
// the controller has a volatile cache, DSM deallocate or Write Zeroes for discard. Requests larger than the transfer
// limit are split and issued concurrently; buffers outside DMA-able guest memory are bounced.
import { BlockIoError, checkRequest, type BlockDevice } from '../block.ts';
import { DsmRange, IoOpc } from './regs.ts';
import { buildPrps } from './prp.ts';
import { NvmeAbortedError, NvmeStatusError } from './errors.ts';
import { statusOf, type NvmeCommand } from './queue.ts';
import type { IdNamespace } from './identify.ts';
import type { NvmeController } from './controller.ts';
import { writeU64Number, viewOf } from '../../../devices/layout.ts';
import type { DmaBuffer } from '../page-alloc.ts';

const ONCS_DSM = 1 << 2;
const ONCS_WRITE_ZEROES = 1 << 3;
const WRITE_ZEROES_DEAC = 1 << 25;
const DSM_AD = 1 << 2;
const FUA = 1 << 30;
const MAX_DSM_RANGES = 256;
/** Linux nvme_max_retries: a command cancelled by a reset or timeout, or failed with a retryable status, goes again. */
export const NVME_MAX_RETRIES = 5;
const SC_INTERNAL_ERROR = 0x06;
const SC_NS_NOT_READY = 0x82;
const MAX_RANGE_BLOCKS = 0xffff_ffff;

export class NvmeNamespace implements BlockDevice {
  readonly name: string;
  readonly nsid: number;
  id: IdNamespace;
  private readonly ctrl: NvmeController;
  private removed = false;
  readonly stats = { reads: 0, writes: 0, errors: 0, retries: 0 };

  constructor(ctrl: NvmeController, nsid: number, id: IdNamespace) {
    this.ctrl = ctrl;
    this.nsid = nsid;
    this.id = id;
    this.name = `${ctrl.name}n${nsid}`;
  }

  get sizeBytes(): number { return this.removed ? 0 : this.id.nsze * this.id.lbaSize; }
  get lbaSize(): number { return this.id.lbaSize; }
  get model(): string { return this.ctrl.id?.mn ?? ''; }
  get serial(): string { return this.ctrl.id?.sn ?? ''; }
  get maxTransferBytes(): number { return Math.max(this.lbaSize, this.ctrl.maxTransferBytes); }
  get queueDepth(): number { return Math.max(1, this.ctrl.ioQueueCount * (this.ctrl.ioQueueDepth - 1)); }
  get controller(): NvmeController { return this.ctrl; }

  /** New Identify data after a rescan; true if the capacity changed. */
  update(id: IdNamespace): boolean {
    const changed = id.nsze !== this.id.nsze || id.lbaSize !== this.id.lbaSize;
    this.id = id;
    return changed;
  }

  markRemoved(): void { this.removed = true; }

  read(lba: number, count: number, buf: Uint8Array): Promise<void> {
    return this.transfer(IoOpc.READ, lba, count, buf, false);
  }

  write(lba: number, count: number, buf: Uint8Array, fua = false): Promise<void> {
    return this.transfer(IoOpc.WRITE, lba, count, buf, fua);
  }

  async flush(): Promise<void> {
    if (((this.ctrl.id?.vwc ?? 0) & 1) === 0) return; // no volatile cache: nothing to flush (Linux skips it too)
    await this.command('flush', 0, { opc: IoOpc.FLUSH, nsid: this.nsid });
  }

  async discard(lba: number, count: number): Promise<void> {
    checkRequest(this, lba, count, undefined);
    const oncs = this.ctrl.id?.oncs ?? 0;
    if (oncs & ONCS_DSM) return this.dsmDeallocate(lba, count);
    if (oncs & ONCS_WRITE_ZEROES) {
      const jobs: Promise<void>[] = [];
      for (let done = 0; done < count; done += 0x10000) {
        const n = Math.min(0x10000, count - done);
        const slba = lba + done;
        jobs.push(this.command('discard', slba, {
          opc: IoOpc.WRITE_ZEROES, nsid: this.nsid, cdw10: slba % 0x1_0000_0000, cdw11: Math.floor(slba / 0x1_0000_0000),
          cdw12: (n - 1) | WRITE_ZEROES_DEAC,
        }));
      }
      await Promise.all(jobs);
      return;
    }
    throw new BlockIoError(this.name, 'discard', lba, new Error('operation not supported'));
  }

  private async dsmDeallocate(lba: number, count: number): Promise<void> {
    const pages = this.ctrl.pages;
    for (let done = 0; done < count;) {
      const buf = pages.alloc(1);
      const v = viewOf(buf.bytes);
      let nr = 0;
      const first = lba + done;
      while (done < count && nr < MAX_DSM_RANGES) {
        const n = Math.min(MAX_RANGE_BLOCKS, count - done);
        const o = nr * DsmRange.size;
        v.setUint32(o + DsmRange.offset.nlb, n, true);
        writeU64Number(v, o + DsmRange.offset.slba, lba + done);
        done += n;
        nr++;
      }
      try {
        await this.command('discard', first, { opc: IoOpc.DSM, nsid: this.nsid, prp1: buf.gpa, cdw10: nr - 1, cdw11: DSM_AD });
      } finally {
        pages.release(buf);
      }
    }
  }

  private async transfer(opc: number, lba: number, count: number, buf: Uint8Array, fua: boolean): Promise<void> {
    checkRequest(this, lba, count, buf);
    const maxBlocks = Math.max(1, Math.floor(this.maxTransferBytes / this.lbaSize));
    if (count <= maxBlocks) return this.chunk(opc, lba, count, buf, fua);
    const jobs: Promise<void>[] = [];
    for (let done = 0; done < count; done += maxBlocks) {
      const n = Math.min(maxBlocks, count - done);
      jobs.push(this.chunk(opc, lba + done, n, buf.subarray(done * this.lbaSize, (done + n) * this.lbaSize), fua));
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** One Read or Write command; DMA straight into `buf` when it is allocator memory, else through a bounce buffer. */
  private async chunk(opc: number, lba: number, count: number, buf: Uint8Array, fua: boolean): Promise<void> {
    const len = count * this.lbaSize;
    const pages = this.ctrl.pages;
    const direct = buf.buffer === pages.mem.buffer && buf.byteOffset % 4 === 0 && pages.owns(buf.byteOffset, len);
    let bounce: DmaBuffer | undefined;
    let addr = buf.byteOffset;
    const op = opc === IoOpc.WRITE ? 'write' : 'read';
    try {
      if (!direct) {
        bounce = pages.allocBytes(len);
        addr = bounce.gpa;
        if (opc === IoOpc.WRITE) bounce.bytes.set(buf.subarray(0, len));
      }
      const prps = buildPrps(addr, len, () => pages.alloc(1));
      try {
        await this.command(op, lba, {
          opc, nsid: this.nsid, prp1: prps.prp1, prp2: prps.prp2,
          cdw10: lba % 0x1_0000_0000, cdw11: Math.floor(lba / 0x1_0000_0000),
          cdw12: ((count - 1) | (fua ? FUA : 0)) >>> 0,
        });
      } finally {
        for (const p of prps.listPages) pages.release(p);
      }
      if (bounce && opc === IoOpc.READ) buf.set(bounce.bytes.subarray(0, len));
      if (opc === IoOpc.READ) this.stats.reads++;
      else this.stats.writes++;
    } catch (err) {
      throw err instanceof BlockIoError ? err : new BlockIoError(this.name, op, lba, err);
    } finally {
      if (bounce) pages.release(bounce);
    }
  }

  /** Submit on an I/O queue; a non-zero status becomes a BlockIoError. Like Linux (nvme_decide_disposition), a
   *  command cancelled by a controller reset (a link loss, or another command's timeout) is requeued, and one that failed
   *  with a retryable status (no DNR; Internal Error — e.g. the card lost its block store for a moment — or Namespace
   *  Not Ready) is retried after a short backoff, up to NVME_MAX_RETRIES times. A write is acknowledged to the caller
   *  only by the completion of one of its attempts, which the card sends after the block store has it (with FUA or a
   *  later Flush as asked), so a requeue can repeat a write but never lose an acknowledged one. */
  private async command(op: BlockIoError['op'], lba: number, cmd: NvmeCommand): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.removed) throw new BlockIoError(this.name, op, lba, new NvmeAbortedError('dead', 'namespace removed'));
      let err: unknown;
      try {
        const c = await this.ctrl.io(cmd);
        if (c.status === 0) return;
        const s = statusOf(c);
        err = new NvmeStatusError(-1, cmd.opc, s.sct, s.sc, s.dnr);
      } catch (e) {
        err = e;
      }
      const requeue = err instanceof NvmeAbortedError && err.reason === 'reset';
      const retryable = err instanceof NvmeStatusError && !err.dnr && err.sct === 0 && (err.sc === SC_INTERNAL_ERROR || err.sc === SC_NS_NOT_READY);
      if ((requeue || retryable) && attempt < NVME_MAX_RETRIES) {
        this.stats.retries++;
        if (retryable) await this.ctrl.services.platform.sleep(100 * 2 ** attempt);
        continue;
      }
      this.stats.errors++;
      throw new BlockIoError(this.name, op, lba, err);
    }
  }
}

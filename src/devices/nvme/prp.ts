// PRP data pointers (NVMe Base 1.4 §4.3; specs.md §2.7): turn PRP1/PRP2 (and PRP list pages, chained through their
// last slot) into a short list of guest address segments, merged where pages are contiguous, then copy data across.
//
//   PRP1 ──► [off .. page end]          pages == 1: PRP2 unused
//   PRP2 ──► second page                 pages == 2
//   PRP2 ──► list: [p1][p2]…[pN-1][next] pages  > 2: last slot of a full list page chains to the next list page
import { DmaFault, type DmaPort } from '../contract.ts';
import type { Iova } from '../brand.ts';
import { readU64Number } from '../layout.ts';
import type { Command } from './command.ts';
import { DNR, Sc } from './status.ts';

export interface PrpContext {
  readonly dma: DmaPort;
  /** Memory page size, 2^(12+CC.MPS). */
  readonly pageSize: number;
}

function addSegment(cmd: Command, addr: number, len: number): void {
  const n = cmd.segCount;
  if (n > 0 && cmd.segAddr[n - 1]! + cmd.segLen[n - 1]! === addr) {
    cmd.segLen[n - 1]! += len;
    return;
  }
  cmd.segAddr[n] = addr;
  cmd.segLen[n] = len;
  cmd.segCount = n + 1;
}

/**
 * Resolve the PRPs of `cmd` for a transfer of `len` bytes into `cmd.seg*`.
 * Returns a status field: success, PRP Offset Invalid (+DNR) or Data Transfer Error (list page fetch faulted).
 */
export async function mapPrps(c: PrpContext, cmd: Command, len: number): Promise<number> {
  cmd.segCount = 0;
  if (len === 0) return Sc.SUCCESS;
  const ps = c.pageSize;
  const prp1 = cmd.prp1;
  if (prp1 < 0) return Sc.DATA_TRANSFER_ERROR;
  if ((prp1 & 3) !== 0) return Sc.PRP_OFFSET_INVALID | DNR;
  const off = prp1 % ps;
  const first = Math.min(len, ps - off);
  addSegment(cmd, prp1, first);
  let left = len - first;
  if (left === 0) return Sc.SUCCESS;

  const prp2 = cmd.prp2;
  if (prp2 < 0) return Sc.DATA_TRANSFER_ERROR;
  if (left <= ps) {
    if (prp2 % ps !== 0) return Sc.PRP_OFFSET_INVALID | DNR;
    addSegment(cmd, prp2, left);
    return Sc.SUCCESS;
  }

  // A PRP list: QWORD aligned, may start mid-page, runs to the end of its page.
  if ((prp2 & 7) !== 0) return Sc.PRP_OFFSET_INVALID | DNR;
  const list = (cmd.listBuf !== null && cmd.listBuf.byteLength >= ps) ? cmd.listBuf : (cmd.listBuf = new Uint8Array(ps));
  const view = new DataView(list.buffer, list.byteOffset, list.byteLength);
  let listPtr = prp2;
  while (left > 0) {
    const slots = (ps - (listPtr % ps)) / 8;
    const needed = Math.ceil(left / ps);
    const chained = needed > slots;
    const entries = chained ? slots : needed;
    try {
      await c.dma.read(listPtr as Iova, list.subarray(0, entries * 8));
    } catch (e) {
      if (e instanceof DmaFault) return Sc.DATA_TRANSFER_ERROR;
      throw e;
    }
    const dataEntries = chained ? entries - 1 : entries;
    for (let i = 0; i < dataEntries; i++) {
      const addr = readU64Number(view, i * 8);
      if (addr < 0) return Sc.DATA_TRANSFER_ERROR;
      if (addr % ps !== 0) return Sc.PRP_OFFSET_INVALID | DNR;
      const n = Math.min(left, ps);
      addSegment(cmd, addr, n);
      left -= n;
    }
    if (chained) {
      const next = readU64Number(view, (entries - 1) * 8);
      if (next < 0) return Sc.DATA_TRANSFER_ERROR;
      if (next % ps !== 0) return Sc.PRP_OFFSET_INVALID | DNR;
      listPtr = next;
    }
  }
  return Sc.SUCCESS;
}

/** Copy `src` to the guest through the command's segments. Returns success or Data Transfer Error. */
export async function copyToHost(dma: DmaPort, cmd: Command, src: Uint8Array): Promise<number> {
  try {
    if (cmd.segCount === 1) {
      await dma.write(cmd.segAddr[0]! as Iova, src.byteLength === cmd.segLen[0] ? src : src.subarray(0, cmd.segLen[0]));
      return Sc.SUCCESS;
    }
    let pos = 0;
    for (let i = 0; i < cmd.segCount; i++) {
      const n = cmd.segLen[i]!;
      await dma.write(cmd.segAddr[i]! as Iova, src.subarray(pos, pos + n));
      pos += n;
    }
    return Sc.SUCCESS;
  } catch (e) {
    if (e instanceof DmaFault) return Sc.DATA_TRANSFER_ERROR;
    throw e;
  }
}

/** Copy from the guest through the command's segments into `dst`. Returns success or Data Transfer Error. */
export async function copyFromHost(dma: DmaPort, cmd: Command, dst: Uint8Array): Promise<number> {
  try {
    if (cmd.segCount === 1) {
      await dma.read(cmd.segAddr[0]! as Iova, dst.byteLength === cmd.segLen[0] ? dst : dst.subarray(0, cmd.segLen[0]));
      return Sc.SUCCESS;
    }
    let pos = 0;
    for (let i = 0; i < cmd.segCount; i++) {
      const n = cmd.segLen[i]!;
      await dma.read(cmd.segAddr[i]! as Iova, dst.subarray(pos, pos + n));
      pos += n;
    }
    return Sc.SUCCESS;
  } catch (e) {
    if (e instanceof DmaFault) return Sc.DATA_TRANSFER_ERROR;
    throw e;
  }
}

// Admin command helpers (specs.md §2.8): each builds one submission entry, with a page from the allocator for any
// data, and returns the decoded result. An error status rejects with NvmeStatusError.
import { AdminOpc, Cns, QueueFlags } from './regs.ts';
import type { NvmeCommand, NvmeCompletion } from './queue.ts';
import { PAGE_SIZE, type PageAllocator } from '../page-alloc.ts';
import { buildPrps } from './prp.ts';

/** How the helpers reach the admin queue. */
export interface AdminPort {
  readonly pages: PageAllocator;
  /** Submit on the admin queue; rejects with NvmeStatusError on an error status. */
  admin(cmd: NvmeCommand, timeoutMs?: number): Promise<NvmeCompletion>;
}

/** Run a command that transfers `bytes` from the controller into a fresh buffer; returns a copy of the data. */
async function withDataIn(port: AdminPort, bytes: number, build: (prp1: number, prp2: number) => NvmeCommand): Promise<Uint8Array> {
  const buf = port.pages.allocBytes(bytes);
  const prps = buildPrps(buf.gpa, bytes, () => port.pages.alloc(1));
  try {
    await port.admin(build(prps.prp1, prps.prp2));
    return buf.bytes.slice(0, bytes);
  } finally {
    for (const p of prps.listPages) port.pages.release(p);
    port.pages.release(buf);
  }
}

export function identify(port: AdminPort, cns: number, nsid = 0): Promise<Uint8Array> {
  return withDataIn(port, PAGE_SIZE, (prp1, prp2) => ({ opc: AdminOpc.IDENTIFY, nsid, prp1, prp2, cdw10: cns }));
}

/** Active namespace IDs greater than `after` (Identify CNS 02h), ascending, zero-terminated list decoded. */
export async function activeNamespaces(port: AdminPort, after = 0): Promise<number[]> {
  const data = await withDataIn(port, PAGE_SIZE, (prp1, prp2) => ({ opc: AdminOpc.IDENTIFY, nsid: after, prp1, prp2, cdw10: Cns.ACTIVE_NS_LIST }));
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: number[] = [];
  for (let i = 0; i < 1024; i++) {
    const nsid = v.getUint32(i * 4, true);
    if (nsid === 0) break;
    out.push(nsid);
  }
  return out;
}

/** Get Log Page: NUMD is 0-based in dwords; RAE = retain asynchronous event. */
export function getLogPage(port: AdminPort, lid: number, bytes: number, nsid = 0xffff_ffff, rae = false): Promise<Uint8Array> {
  const numd = bytes / 4 - 1;
  return withDataIn(port, bytes, (prp1, prp2) => ({
    opc: AdminOpc.GET_LOG_PAGE, nsid, prp1, prp2,
    cdw10: (lid & 0xff) | (rae ? 1 << 15 : 0) | ((numd & 0xffff) << 16),
    cdw11: (numd >>> 16) & 0xffff,
  }));
}

/** Set Features; returns DW0 of the completion. */
export async function setFeatures(port: AdminPort, fid: number, cdw11: number): Promise<number> {
  const c = await port.admin({ opc: AdminOpc.SET_FEATURES, cdw10: fid & 0xff, cdw11 });
  return c.dw0;
}

export async function getFeatures(port: AdminPort, fid: number, sel = 0, cdw11 = 0): Promise<number> {
  const c = await port.admin({ opc: AdminOpc.GET_FEATURES, cdw10: (fid & 0xff) | ((sel & 0x7) << 8), cdw11 });
  return c.dw0;
}

/** Create I/O CQ: physically contiguous, interrupts enabled on MSI-X entry `iv`. */
export async function createIoCq(port: AdminPort, qid: number, depth: number, base: number, iv: number): Promise<void> {
  await port.admin({
    opc: AdminOpc.CREATE_CQ, prp1: base,
    cdw10: (((depth - 1) & 0xffff) << 16 | qid) >>> 0,
    cdw11: ((iv & 0xffff) << 16 | QueueFlags.IEN | QueueFlags.PC) >>> 0,
  });
}

/** Create I/O SQ bound to CQ `cqid`, physically contiguous, priority 0. */
export async function createIoSq(port: AdminPort, qid: number, depth: number, base: number, cqid: number): Promise<void> {
  await port.admin({
    opc: AdminOpc.CREATE_SQ, prp1: base,
    cdw10: (((depth - 1) & 0xffff) << 16 | qid) >>> 0,
    cdw11: ((cqid & 0xffff) << 16 | QueueFlags.PC) >>> 0,
  });
}

export async function deleteIoSq(port: AdminPort, qid: number, timeoutMs?: number): Promise<void> {
  await port.admin({ opc: AdminOpc.DELETE_SQ, cdw10: qid }, timeoutMs);
}

export async function deleteIoCq(port: AdminPort, qid: number, timeoutMs?: number): Promise<void> {
  await port.admin({ opc: AdminOpc.DELETE_CQ, cdw10: qid }, timeoutMs);
}

/** Abort command `cid` on SQ `sqid`; true if the controller says it aborted it (DW0 bit 0 = 0). */
export async function abortCommand(port: AdminPort, sqid: number, cid: number): Promise<boolean> {
  const c = await port.admin({ opc: AdminOpc.ABORT, cdw10: ((cid & 0xffff) << 16 | (sqid & 0xffff)) >>> 0 });
  return (c.dw0 & 1) === 0;
}

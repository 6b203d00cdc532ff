// NVM I/O command set (NVMe NVM Command Set; specs.md §2.9): Read, Write (FUA), Flush, Write Zeroes and Dataset
// Management (deallocate). Data moves through pooled buffers; backend failures map to media or internal status.
import type { NvmeController } from '../nvme.ts';
import type { Command } from '../command.ts';
import { BackendError } from '../backend.ts';
import type { Namespace } from '../namespace.ts';
import { IoOpc, SQE_PSDT_SHIFT } from '../regs.ts';
import { DNR, Sc } from '../status.ts';
import { copyFromHost, copyToHost, mapPrps } from '../prp.ts';
import { Metric } from '../metrics.ts';
import { viewOf } from '../../layout.ts';

const NSID_ALL = 0xffff_ffff;
/** DSM range: +0 context attributes, +4 length in LBAs (not 0-based), +8 SLBA. */
const DSM_RANGE_BYTES = 16;

export async function executeIo(c: NvmeController, cmd: Command): Promise<void> {
  if ((cmd.flags >> SQE_PSDT_SHIFT) !== 0 || (cmd.flags & 3) !== 0) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
  switch (cmd.opc) {
    case IoOpc.READ: return readWrite(c, cmd, false);
    case IoOpc.WRITE: return readWrite(c, cmd, true);
    case IoOpc.FLUSH: return flush(c, cmd);
    case IoOpc.WRITE_ZEROES: return writeZeroes(c, cmd);
    case IoOpc.DATASET_MANAGEMENT: return datasetManagement(c, cmd);
    default:
      c.guestError('nvme.io-invalid-opcode', { sqid: cmd.sqid, opc: cmd.opc, cid: cmd.cid });
      cmd.fail(Sc.INVALID_OPCODE | DNR);
  }
}

function namespaceOf(c: NvmeController, cmd: Command): Namespace | undefined {
  const ns = c.namespaces.get(cmd.nsid);
  if (ns === undefined) cmd.fail(Sc.INVALID_NAMESPACE | DNR);
  return ns;
}

/** SLBA from CDW10–11 and NLB (CDW12 15:0, 0-based); fails with LBA Out of Range past NSZE. Returns -1 on error. */
function lbaRange(cmd: Command, ns: Namespace): { slba: number; nlb: number } | null {
  const slba = cmd.cdw11 * 0x1_0000_0000 + cmd.cdw10;
  const nlb = (cmd.cdw12 & 0xffff) + 1;
  if (slba + nlb > ns.nsze) {
    cmd.errorLba = Number.isSafeInteger(slba) ? slba : -1;
    cmd.fail(Sc.LBA_OUT_OF_RANGE | DNR);
    return null;
  }
  return { slba, nlb };
}

/** Map a backend failure to a status field (BackendError), or rethrow anything else (an internal error). */
function backendStatus(c: NvmeController, cmd: Command, e: unknown, op: 'read' | 'write' | 'flush' | 'discard'): number {
  if (!(e instanceof BackendError)) throw e;
  c.ctx.metrics.inc(Metric.BACKEND_ERRORS);
  c.ctx.log.warn({ event: 'nvme.backend-error', op, kind: e.kind, nsid: cmd.nsid, cid: cmd.cid, err: e.message });
  switch (e.kind) {
    case 'io': return op === 'read' ? Sc.UNRECOVERED_READ_ERROR : Sc.WRITE_FAULT;
    case 'range': return Sc.LBA_OUT_OF_RANGE | DNR;
    case 'unavailable':
    case 'timeout': return Sc.INTERNAL_ERROR;
  }
}

async function readWrite(c: NvmeController, cmd: Command, write: boolean): Promise<void> {
  const ns = namespaceOf(c, cmd);
  if (ns === undefined) return;
  const r = lbaRange(cmd, ns);
  if (r === null) return;
  const len = r.nlb << ns.lbads;
  if (len > c.maxTransfer) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
  const offset = r.slba * ns.lbaSize;
  cmd.errorLba = r.slba;
  const st = await mapPrps(c.prp, cmd, len);
  if (st !== Sc.SUCCESS) { cmd.fail(st); return; }

  const buf = c.buffers.take(len);
  const data = buf.byteLength === len ? buf : buf.subarray(0, len);
  ns.stats.queueLength++;
  try {
    if (write) {
      const fua = ((cmd.cdw12 >>> 30) & 1) === 1 || !c.features.writeCache;
      if (cmd.fail(await copyFromHost(c.ctx.dma, cmd, data)) !== Sc.SUCCESS) { c.ctx.metrics.inc(Metric.DMA_FAULTS); return; }
      if (cmd.traced) c.trace('data-dma', `CID${cmd.cid} ${len} B from host in ${cmd.segCount} segment(s)`);
      try { await ns.backend.write(offset, data, fua); } catch (e) { cmd.fail(backendStatus(c, cmd, e, 'write')); return; }
      if (cmd.traced) c.trace('backend', `write ns${ns.nsid} @${offset} +${len}${fua ? ' FUA' : ''}`);
    } else {
      try { await ns.backend.read(offset, data); } catch (e) { cmd.fail(backendStatus(c, cmd, e, 'read')); return; }
      if (cmd.traced) c.trace('backend', `read ns${ns.nsid} @${offset} +${len}`);
      if (cmd.fail(await copyToHost(c.ctx.dma, cmd, data)) !== Sc.SUCCESS) { c.ctx.metrics.inc(Metric.DMA_FAULTS); return; }
      if (cmd.traced) c.trace('data-dma', `CID${cmd.cid} ${len} B to host in ${cmd.segCount} segment(s)`);
    }
    const us = Number(c.ctx.clock.nowNs() - cmd.startNs) / 1000;
    const h = c.health;
    if (write) {
      ns.stats.recordWrite(len, us);
      h.bytesWritten += len;
      h.hostWriteCommands++;
      c.ctx.metrics.inc(Metric.BYTES_WRITTEN, len);
    } else {
      ns.stats.recordRead(len, us);
      h.bytesRead += len;
      h.hostReadCommands++;
      c.ctx.metrics.inc(Metric.BYTES_READ, len);
    }
  } finally {
    ns.stats.queueLength--;
    c.buffers.give(buf);
  }
}

async function flush(c: NvmeController, cmd: Command): Promise<void> {
  const targets = cmd.nsid === NSID_ALL ? [...c.namespaces.values()] : [namespaceOf(c, cmd)];
  for (const ns of targets) {
    if (ns === undefined) return;
    try { await ns.backend.flush(); } catch (e) { cmd.fail(backendStatus(c, cmd, e, 'flush')); return; }
    if (cmd.traced) c.trace('backend', `flush ns${ns.nsid}`);
  }
}

async function writeZeroes(c: NvmeController, cmd: Command): Promise<void> {
  const ns = namespaceOf(c, cmd);
  if (ns === undefined) return;
  const r = lbaRange(cmd, ns);
  if (r === null) return;
  const offset = r.slba * ns.lbaSize;
  const len = r.nlb * ns.lbaSize;
  const deac = ((cmd.cdw12 >>> 25) & 1) === 1;
  const fua = ((cmd.cdw12 >>> 30) & 1) === 1 || !c.features.writeCache;
  cmd.errorLba = r.slba;
  try {
    if (deac) await ns.backend.discard(offset, len);
    else await ns.backend.writeZeroes(offset, len, fua);
  } catch (e) {
    cmd.fail(backendStatus(c, cmd, e, deac ? 'discard' : 'write'));
  }
}

async function datasetManagement(c: NvmeController, cmd: Command): Promise<void> {
  const ns = namespaceOf(c, cmd);
  if (ns === undefined) return;
  const nr = (cmd.cdw10 & 0xff) + 1;
  const deallocate = ((cmd.cdw11 >> 2) & 1) === 1;
  if (!deallocate) return; // IDR/IDW are hints
  const bytes = nr * DSM_RANGE_BYTES;
  const ranges = new Uint8Array(bytes);
  const st = await c.dataFromHost(cmd, ranges, bytes);
  if (st !== Sc.SUCCESS) { cmd.fail(st); return; }
  const v = viewOf(ranges);
  for (let i = 0; i < nr; i++) {
    const nlb = v.getUint32(i * DSM_RANGE_BYTES + 4, true);
    const slba = v.getUint32(i * DSM_RANGE_BYTES + 8, true) + v.getUint32(i * DSM_RANGE_BYTES + 12, true) * 0x1_0000_0000;
    if (slba + nlb > ns.nsze) {
      cmd.errorLba = Number.isSafeInteger(slba) ? slba : -1;
      cmd.fail(Sc.LBA_OUT_OF_RANGE | DNR);
      return;
    }
  }
  for (let i = 0; i < nr; i++) {
    const nlb = v.getUint32(i * DSM_RANGE_BYTES + 4, true);
    if (nlb === 0) continue;
    const slba = v.getUint32(i * DSM_RANGE_BYTES + 8, true) + v.getUint32(i * DSM_RANGE_BYTES + 12, true) * 0x1_0000_0000;
    try { await ns.backend.discard(slba * ns.lbaSize, nlb * ns.lbaSize); } catch (e) {
      cmd.fail(backendStatus(c, cmd, e, 'discard'));
      return;
    }
  }
}

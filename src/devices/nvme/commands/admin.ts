// Admin command set (NVMe Base 1.4 §5; specs.md §2.8): queue management, Identify, Abort, Async Event Request, and
// dispatch to Get/Set Features and Get Log Page. Each handler sets `cmd.status` / `cmd.dw0`; none throws on guest input.
import type { NvmeController } from '../nvme.ts';
import type { Command } from '../command.ts';
import { AdminOpc, Cns, SQE_PSDT_SHIFT } from '../regs.ts';
import { DNR, Sc } from '../status.ts';
import {
  IDENTIFY_SIZE, buildActiveNsList, buildIdentifyController, buildIdentifyNamespace, buildNsDescriptors,
} from '../identify.ts';
import { getFeatures, setFeatures } from './features.ts';
import { getLogPage } from './log-page.ts';

const NSID_ALL = 0xffff_ffff;

/** Run one admin command. Returns true when the command is parked (an AER waiting for an event). */
export async function executeAdmin(c: NvmeController, cmd: Command): Promise<boolean> {
  if ((cmd.flags >> SQE_PSDT_SHIFT) !== 0 || (cmd.flags & 3) !== 0) {
    cmd.fail(Sc.INVALID_FIELD | DNR); // SGLs and fused operations are not supported
    return false;
  }
  switch (cmd.opc) {
    case AdminOpc.DELETE_IO_SQ: await deleteIoSq(c, cmd); return false;
    case AdminOpc.CREATE_IO_SQ: createIoSq(c, cmd); return false;
    case AdminOpc.GET_LOG_PAGE: await getLogPage(c, cmd); return false;
    case AdminOpc.DELETE_IO_CQ: deleteIoCq(c, cmd); return false;
    case AdminOpc.CREATE_IO_CQ: createIoCq(c, cmd); return false;
    case AdminOpc.IDENTIFY: await identify(c, cmd); return false;
    case AdminOpc.ABORT: abort(c, cmd); return false;
    case AdminOpc.SET_FEATURES: await setFeatures(c, cmd); return false;
    case AdminOpc.GET_FEATURES: await getFeatures(c, cmd); return false;
    case AdminOpc.ASYNC_EVENT_REQUEST: return asyncEventRequest(c, cmd);
    default:
      c.guestError('nvme.admin-invalid-opcode', { opc: cmd.opc, cid: cmd.cid });
      cmd.fail(Sc.INVALID_OPCODE | DNR);
      return false;
  }
}

/** QSIZE (CDW10 31:16, 0-based) is 0 or above CAP.MQES. */
const badQueueSize = (c: NvmeController, cmd: Command): boolean => {
  const qsize = cmd.cdw10 >>> 16;
  return qsize === 0 || qsize > c.mqes;
};

function createIoCq(c: NvmeController, cmd: Command): void {
  const qid = cmd.cdw10 & 0xffff;
  const pc = (cmd.cdw11 & 1) === 1;
  const ien = ((cmd.cdw11 >> 1) & 1) === 1;
  const iv = cmd.cdw11 >>> 16;
  if (qid === 0 || qid > c.features.ncqa + 1 || c.cqs[qid] !== undefined) { cmd.fail(Sc.INVALID_QUEUE_ID | DNR); return; }
  if (badQueueSize(c, cmd)) { cmd.fail(Sc.INVALID_QUEUE_SIZE | DNR); return; }
  if (iv >= c.msixVectors) { cmd.fail(Sc.INVALID_INTERRUPT_VECTOR | DNR); return; }
  if (!pc) { cmd.fail(Sc.INVALID_FIELD | DNR); return; } // CAP.CQR = 1: queues must be contiguous
  if (cmd.prp1 < 0 || cmd.prp1 % c.prp.pageSize !== 0) { cmd.fail(Sc.PRP_OFFSET_INVALID | DNR); return; }
  c.engine.createCq(qid, cmd.prp1, (cmd.cdw10 >>> 16) + 1, iv, ien);
}

function createIoSq(c: NvmeController, cmd: Command): void {
  const qid = cmd.cdw10 & 0xffff;
  const pc = (cmd.cdw11 & 1) === 1;
  const cqid = cmd.cdw11 >>> 16;
  if (qid === 0 || qid > c.features.nsqa + 1 || c.sqs[qid] !== undefined) { cmd.fail(Sc.INVALID_QUEUE_ID | DNR); return; }
  const cq = cqid === 0 ? undefined : c.cqs[cqid];
  if (cq === undefined) { cmd.fail(Sc.COMPLETION_QUEUE_INVALID | DNR); return; }
  if (badQueueSize(c, cmd)) { cmd.fail(Sc.INVALID_QUEUE_SIZE | DNR); return; }
  if (!pc) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
  if (cmd.prp1 < 0 || cmd.prp1 % c.prp.pageSize !== 0) { cmd.fail(Sc.PRP_OFFSET_INVALID | DNR); return; }
  c.engine.createSq(qid, cmd.prp1, (cmd.cdw10 >>> 16) + 1, cq);
}

async function deleteIoSq(c: NvmeController, cmd: Command): Promise<void> {
  const qid = cmd.cdw10 & 0xffff;
  const sq = qid === 0 ? undefined : c.sqs[qid];
  if (sq === undefined) { cmd.fail(Sc.INVALID_QUEUE_ID | DNR); return; }
  await c.engine.deleteSq(sq);
}

function deleteIoCq(c: NvmeController, cmd: Command): void {
  const qid = cmd.cdw10 & 0xffff;
  const cq = qid === 0 ? undefined : c.cqs[qid];
  if (cq === undefined) { cmd.fail(Sc.INVALID_QUEUE_ID | DNR); return; }
  if (cq.sqs.size > 0) { cmd.fail(Sc.INVALID_QUEUE_DELETION | DNR); return; }
  c.engine.deleteCq(cq);
}

async function identify(c: NvmeController, cmd: Command): Promise<void> {
  const cns = cmd.cdw10 & 0xff;
  const nsid = cmd.nsid;
  const buf = new Uint8Array(IDENTIFY_SIZE);
  const validNsid = nsid !== 0 && nsid <= c.info.nn;
  switch (cns) {
    case Cns.NAMESPACE: {
      if (!validNsid) { cmd.fail(Sc.INVALID_NAMESPACE | DNR); return; }
      const ns = c.namespaces.get(nsid);
      if (ns !== undefined) buildIdentifyNamespace(ns, c.info.serial, buf); // inactive NSID: all zeros
      break;
    }
    case Cns.CONTROLLER:
      buildIdentifyController(c.info, buf);
      break;
    case Cns.ACTIVE_NS_LIST:
      if (nsid >= NSID_ALL - 1) { cmd.fail(Sc.INVALID_NAMESPACE | DNR); return; }
      buildActiveNsList(c.namespaces.keys(), nsid, buf);
      break;
    case Cns.NS_DESCRIPTORS: {
      const ns = validNsid ? c.namespaces.get(nsid) : undefined;
      if (ns === undefined) { cmd.fail(Sc.INVALID_NAMESPACE | DNR); return; }
      buildNsDescriptors(ns, c.info.serial, buf);
      break;
    }
    default:
      cmd.fail(Sc.INVALID_FIELD | DNR);
      return;
  }
  cmd.fail(await c.dataToHost(cmd, buf, IDENTIFY_SIZE));
}

/** Abort: DW0 bit 0 = 0 when the command was found and will complete with Command Abort Requested. */
function abort(c: NvmeController, cmd: Command): void {
  if (c.abortsInProgress >= c.info.acl + 1) { cmd.fail(Sc.ABORT_LIMIT_EXCEEDED | DNR); return; }
  c.abortsInProgress++;
  try {
    const sqid = cmd.cdw10 & 0xffff;
    const cid = cmd.cdw10 >>> 16;
    const sq = c.sqs[sqid];
    const target = sq?.inflight.get(cid);
    cmd.dw0 = 1;
    if (sq === undefined || target === undefined || target === cmd) return;
    cmd.dw0 = 0;
    const parked = c.events.waiting.indexOf(target);
    if (parked >= 0) {
      c.events.waiting.splice(parked, 1);
      target.status = Sc.ABORT_REQUESTED;
      queueMicrotask(() => c.engine.complete(target, sq));
    } else if (target.abortStatus === 0) {
      target.abortStatus = Sc.ABORT_REQUESTED;
    }
  } finally {
    c.abortsInProgress--;
  }
}

function asyncEventRequest(c: NvmeController, cmd: Command): boolean {
  if (c.events.waiting.length >= c.info.aerl + 1) { cmd.fail(Sc.AER_LIMIT_EXCEEDED | DNR); return false; }
  c.events.waiting.push(cmd); // answered by the engine once an unmasked event is pending
  return true;
}

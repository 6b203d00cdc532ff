// Namespace discovery and hot-plug (specs.md §2.8 CNS 00h/02h, §2.14 step 7): scan the active list, register new
// namespaces as block devices, pick up size changes, drop vanished ones; and the Async Event handler that triggers a
// rescan on "namespace attribute changed" notices.
import { AsyncEvent, Cns, Lid } from './regs.ts';
import { activeNamespaces, getLogPage, identify } from './admin.ts';
import { parseIdNs, type IdNamespace } from './identify.ts';
import { NvmeNamespace } from './namespace.ts';
import { NvmeStatusError, statusName } from './errors.ts';
import { statusOf, type NvmeCompletion } from './queue.ts';
import type { NvmeController } from './controller.ts';

/** Highest NSID walked when the controller has no active-namespace list (NVMe < 1.1). */
const MAX_SEQUENTIAL_NSID = 1024;

async function listNamespaces(ctrl: NvmeController): Promise<number[]> {
  const nn = ctrl.id?.nn ?? 0;
  if (ctrl.vs >= 0x0001_0100) {
    try {
      const all: number[] = [];
      let after = 0;
      for (;;) {
        const batch = await activeNamespaces(ctrl, after);
        all.push(...batch);
        const last = batch[batch.length - 1];
        if (batch.length < 1024 || last === undefined || last >= 0xffff_fffe) break;
        after = last;
      }
      return all;
    } catch (err) {
      if (!(err instanceof NvmeStatusError)) throw err;
      ctrl.services.log.warn(`nvme ${ctrl.name}: active namespace list failed (${err.message}), scanning 1..${nn}`);
    }
  }
  return Array.from({ length: Math.min(nn, MAX_SEQUENTIAL_NSID) }, (_, i) => i + 1);
}

const sizeText = (id: IdNamespace): string => {
  const bytes = id.nsze * id.lbaSize;
  return `${id.nsze} ${id.lbaSize}-byte logical blocks (${(bytes / 1e6).toFixed(2)} MB/${(bytes / 1048576).toFixed(2)} MiB)`;
};

/** Bring `ctrl.namespaces` and the block layer in line with what the controller reports now. */
export async function scanNamespaces(ctrl: NvmeController): Promise<void> {
  const { log, blocks } = ctrl.services;
  const nsids = await listNamespaces(ctrl);
  const seen = new Set<number>();
  for (const nsid of nsids) {
    let id: IdNamespace;
    try {
      id = parseIdNs(await identify(ctrl, Cns.NAMESPACE, nsid));
    } catch (err) {
      if (!(err instanceof NvmeStatusError)) throw err;
      log.warn(`nvme ${ctrl.name}: identify namespace ${nsid} failed: ${err.message}`);
      continue;
    }
    if (id.nsze === 0) continue; // allocated but inactive
    if (id.lbaSize === 0 || id.nsze < 0) {
      log.warn(`nvme ${ctrl.name}: namespace ${nsid}: unsupported format (FLBAS 0x${id.flbas.toString(16)}), ignored`);
      continue;
    }
    seen.add(nsid);
    const existing = ctrl.namespaces.get(nsid);
    if (existing) {
      const before = existing.sizeBytes;
      if (existing.update(id)) {
        log.info(`${existing.name}: detected capacity change from ${before} to ${existing.sizeBytes}`);
        blocks.resized(existing);
      }
      continue;
    }
    const ns = new NvmeNamespace(ctrl, nsid, id);
    ctrl.namespaces.set(nsid, ns);
    blocks.add(ns);
    log.info(`${ns.name}: ${sizeText(id)}`);
  }
  for (const [nsid, ns] of ctrl.namespaces) {
    if (seen.has(nsid)) continue;
    ns.markRemoved();
    ctrl.namespaces.delete(nsid);
    blocks.remove(ns.name);
    log.info(`${ns.name}: namespace removed`);
  }
}

/** Bytes to read for a log page named in an AEN (enough to clear the event: RAE = 0). */
function logPageBytes(lid: number): number {
  switch (lid) {
    case Lid.ERROR: return 64;
    case Lid.CHANGED_NS_LIST: return 4096;
    default: return 512;
  }
}

/**
 * One completed Async Event Request: read the named log page (unmasking the event), rescan on namespace changes.
 * Returns whether another AER should be submitted (not after a failed one, as Linux does).
 */
export async function handleAsyncEvent(ctrl: NvmeController, c: NvmeCompletion): Promise<boolean> {
  const { log } = ctrl.services;
  if (c.status !== 0) {
    const s = statusOf(c);
    log.warn(`nvme ${ctrl.name}: async event request failed: ${statusName(s.sct, s.sc)}`);
    return false;
  }
  const type = AsyncEvent.type(c.dw0);
  const info = AsyncEvent.info(c.dw0);
  const lid = AsyncEvent.logPage(c.dw0);
  try {
    if (lid !== 0) await getLogPage(ctrl, lid, logPageBytes(lid));
    if (type === AsyncEvent.TYPE_NOTICE && info === AsyncEvent.NOTICE_NS_CHANGED) {
      log.info(`nvme ${ctrl.name}: rescanning namespaces.`);
      await scanNamespaces(ctrl);
    } else {
      log.info(`nvme ${ctrl.name}: async event type ${type} info 0x${info.toString(16)} log page 0x${lid.toString(16)}`);
    }
  } catch (err) {
    log.warn(`nvme ${ctrl.name}: async event 0x${c.dw0.toString(16)} handling failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return true;
}

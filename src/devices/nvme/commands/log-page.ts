// Get Log Page (NVMe Base 1.4 §5.14; specs.md §2.8): length from NUMDU:NUMDL, DWORD-aligned byte offset, RAE.
import type { NvmeController } from '../nvme.ts';
import type { Command } from '../command.ts';
import { Lid } from '../regs.ts';
import { DNR, Sc } from '../status.ts';
import { buildChangedNsList, buildEbsStatsLog, buildFirmwareSlotLog, buildQueueStatsLog, buildSmartLog } from '../log-pages.ts';

export async function getLogPage(c: NvmeController, cmd: Command): Promise<void> {
  const lid = cmd.cdw10 & 0xff;
  const rae = ((cmd.cdw10 >> 15) & 1) === 1;
  const numd = (((cmd.cdw11 & 0xffff) << 16) >>> 0) + (cmd.cdw10 >>> 16) + 1;
  const len = numd * 4;
  const offset = cmd.cdw13 * 0x1_0000_0000 + cmd.cdw12;
  if ((offset & 3) !== 0 || len > c.maxTransfer) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }

  const page = new Uint8Array(4096);
  let size: number;
  switch (lid) {
    case Lid.ERROR_INFO: size = c.errorLog.build(page); break;
    case Lid.SMART: size = buildSmartLog(c.health, c.powerOnNs(), page); break;
    case Lid.FIRMWARE_SLOT: size = buildFirmwareSlotLog(c.info.firmware, page); break;
    case Lid.CHANGED_NS_LIST: size = buildChangedNsList(c.changedNs, page); break;
    case Lid.QUEUE_STATS: size = buildQueueStatsLog(c.engine.qstats, page); break;
    case Lid.EBS_STATS: {
      if (c.personality !== 'ebs') { cmd.fail(Sc.INVALID_LOG_PAGE | DNR); return; }
      const ns = c.namespaces.get(cmd.nsid);
      if (ns === undefined) { cmd.fail(Sc.INVALID_NAMESPACE | DNR); return; }
      size = buildEbsStatsLog(ns.stats, page);
      break;
    }
    default:
      c.guestError('nvme.invalid-log-page', { lid });
      cmd.fail(Sc.INVALID_LOG_PAGE | DNR);
      return;
  }
  if (offset >= size) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }

  // Bytes past the end of the log read as zeros.
  let out: Uint8Array;
  if (len <= size - offset) out = page.subarray(offset, offset + len);
  else {
    out = new Uint8Array(len);
    out.set(page.subarray(offset, size));
  }
  const st = await c.dataToHost(cmd, out, len);
  if (st !== Sc.SUCCESS) { cmd.fail(st); return; }

  c.events.logRead(lid, rae);
  if (lid === Lid.CHANGED_NS_LIST && !rae) c.changedNs.length = 0;
}

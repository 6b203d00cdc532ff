// nvme: a slice of nvme-cli with its human-readable output: list, id-ctrl, id-ns, smart-log, reset. Each query
// issues a fresh admin command (Identify, Get Log Page) through the driver, as nvme-cli does through the ioctl.
import type { ShellCommand, CommandContext } from '../shell.ts';
import { Cns, Lid } from '../nvme/regs.ts';
import { getLogPage, identify } from '../nvme/admin.ts';
import { parseIdCtrl, parseIdNs, parseSmartLog, versionText } from '../nvme/identify.ts';
import type { NvmeController } from '../nvme/controller.ts';
import { hex } from './util.ts';
import { FEATURE_USAGE, getFeature, queueLog, setFeature } from './nvme-features.ts';

const kv = (rows: [string, string | number][], width = 10): string =>
  rows.map(([key, v]) => `${key.padEnd(width)}: ${typeof v === 'number' ? String(v) : v}`).join('\n') + '\n';

/** `8.59  GB` as nvme-cli's decimal suffix formatting. */
function decimal(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(2).padStart(6)} ${units[i]?.padEnd(2)}`;
}

function list({ k, out }: CommandContext): number {
  const rows: string[] = [];
  rows.push(`${'Node'.padEnd(21)} ${'SN'.padEnd(20)} ${'Model'.padEnd(40)} ${'Namespace'.padEnd(9)} ${'Usage'.padEnd(26)} ${'Format'.padEnd(16)} ${'FW Rev'.padEnd(8)}`);
  rows.push(`${'-'.repeat(21)} ${'-'.repeat(20)} ${'-'.repeat(40)} ${'-'.repeat(9)} ${'-'.repeat(26)} ${'-'.repeat(16)} ${'-'.repeat(8)}`);
  for (const c of k.nvme.controllers) {
    for (const ns of [...c.namespaces.values()].sort((a, b) => a.nsid - b.nsid)) {
      const id = ns.id;
      const usage = `${decimal(id.nuse * id.lbaSize)} / ${decimal(id.nsze * id.lbaSize)}`;
      const ms = id.lbaf[id.flbaIndex]?.ms ?? 0;
      const format = `${String(id.lbaSize).padStart(3)}   B + ${String(ms).padStart(2)} B`;
      rows.push(`${`/dev/${ns.name}`.padEnd(21)} ${(c.id?.sn ?? '').padEnd(20)} ${(c.id?.mn ?? '').padEnd(40)} ${String(ns.nsid).padEnd(9)} ${usage.padEnd(26)} ${format.padEnd(16)} ${(c.id?.fr ?? '').padEnd(8)}`);
    }
  }
  out(rows.join('\n') + '\n');
  return 0;
}

async function idCtrl(c: NvmeController, out: (t: string) => void): Promise<number> {
  const id = parseIdCtrl(await identify(c, Cns.CONTROLLER));
  out('NVME Identify Controller:\n');
  out(kv([
    ['vid', hex(id.vid, 4)], ['ssvid', hex(id.ssvid, 4)], ['sn', id.sn], ['mn', id.mn], ['fr', id.fr],
    ['rab', id.rab], ['ieee', id.ieee.toString(16).padStart(6, '0')], ['cmic', id.cmic], ['mdts', id.mdts],
    ['cntlid', hex(id.cntlid)], ['ver', `${hex(id.ver)} (NVMe ${versionText(id.ver)})`], ['rtd3r', id.rtd3r], ['rtd3e', id.rtd3e],
    ['oaes', hex(id.oaes)], ['ctratt', hex(id.ctratt)], ['cntrltype', id.cntrltype], ['oacs', hex(id.oacs)],
    ['acl', id.acl], ['aerl', id.aerl], ['frmw', hex(id.frmw)], ['lpa', hex(id.lpa)], ['elpe', id.elpe],
    ['npss', id.npss], ['wctemp', id.wctemp], ['cctemp', id.cctemp], ['sqes', hex(id.sqes)], ['cqes', hex(id.cqes)],
    ['maxcmd', id.maxcmd], ['nn', id.nn], ['oncs', hex(id.oncs)], ['fuses', hex(id.fuses)], ['fna', hex(id.fna)],
    ['vwc', hex(id.vwc)], ['awun', id.awun], ['awupf', id.awupf], ['sgls', hex(id.sgls)], ['subnqn', id.subnqn],
  ]));
  if (id.ebsBdev !== '') out(kv([['vs[]', ''], ['bdev', id.ebsBdev]]));
  return 0;
}

async function idNs(c: NvmeController, nsid: number, out: (t: string) => void): Promise<number> {
  const id = parseIdNs(await identify(c, Cns.NAMESPACE, nsid));
  out(`NVME Identify Namespace ${nsid}:\n`);
  out(kv([
    ['nsze', hex(id.nsze)], ['ncap', hex(id.ncap)], ['nuse', hex(id.nuse)], ['nsfeat', hex(id.nsfeat)],
    ['nlbaf', id.nlbaf], ['flbas', hex(id.flbas)], ['mc', hex(id.mc)], ['dpc', hex(id.dpc)], ['dps', hex(id.dps)],
    ['nmic', id.nmic], ['dlfeat', id.dlfeat], ['nguid', id.nguid], ['eui64', id.eui64],
  ], 8));
  id.lbaf.forEach((f, i) => {
    out(`lbaf ${String(i).padStart(2)} : ms:${String(f.ms).padEnd(3)} lbads:${String(f.lbads).padEnd(2)} rp:${hex(f.rp)}${i === id.flbaIndex ? ' (in use)' : ''}\n`);
  });
  return 0;
}

async function smartLog(c: NvmeController, out: (t: string) => void): Promise<number> {
  const s = parseSmartLog(await getLogPage(c, Lid.SMART, 512));
  out(`Smart Log for NVME device:${c.name} namespace-id:ffffffff\n`);
  out(kv([
    ['critical_warning', s.criticalWarning],
    ['temperature', `${s.temperature - 273} C (${s.temperature} Kelvin)`],
    ['available_spare', `${s.availSpare}%`], ['available_spare_threshold', `${s.spareThresh}%`],
    ['percentage_used', `${s.percentUsed}%`],
    ['data_units_read', s.dataUnitsRead.toString()], ['data_units_written', s.dataUnitsWritten.toString()],
    ['host_read_commands', s.hostReads.toString()], ['host_write_commands', s.hostWrites.toString()],
    ['controller_busy_time', s.ctrlBusyTime.toString()], ['power_cycles', s.powerCycles.toString()],
    ['power_on_hours', s.powerOnHours.toString()], ['unsafe_shutdowns', s.unsafeShutdowns.toString()],
    ['media_errors', s.mediaErrors.toString()], ['num_err_log_entries', s.numErrLogEntries.toString()],
    ['Warning Temperature Time', s.warningTempTime], ['Critical Composite Temperature Time', s.criticalCompTime],
  ], 36));
  return 0;
}

const USAGE = `usage: nvme <list | id-ctrl DEV | id-ns DEV [-n NSID] | smart-log DEV | reset DEV | set-feature | get-feature | queue-log>\n${FEATURE_USAGE}`;

export const nvme: ShellCommand = {
  name: 'nvme',
  summary: 'NVMe management (list, id-ctrl, id-ns, smart-log, reset, set-feature, get-feature, queue-log)',
  async run(ctx) {
    const { args, k, out, err } = ctx;
    const sub = args[0];
    if (sub === 'list') return list(ctx);
    if (sub === undefined || sub === 'help' || sub === '--help') { out(USAGE); return sub === undefined ? 1 : 0; }
    const dev = args[1];
    if (dev === undefined) { err(USAGE); return 1; }
    const c = k.nvme.find(dev);
    if (!c) { err(`${dev}: No such device\n`); return 1; }
    switch (sub) {
      case 'id-ctrl': return idCtrl(c, out);
      case 'id-ns': {
        const nIdx = args.findIndex((a) => a === '-n' || a === '--namespace-id');
        const fromPath = /n(\d+)$/u.exec(dev.replace(/^\/dev\/nvme\d+/u, ''));
        const nsid = nIdx >= 0 ? Number(args[nIdx + 1]) : fromPath ? Number(fromPath[1]) : NaN;
        if (!Number.isInteger(nsid) || nsid < 1) { err('id-ns: a namespace is required (DEV like /dev/nvme0n1, or -n NSID)\n'); return 1; }
        return idNs(c, nsid, out);
      }
      case 'smart-log': return smartLog(c, out);
      case 'set-feature': return setFeature(c, args.slice(2), out, err);
      case 'get-feature': return getFeature(c, args.slice(2), out, err);
      case 'queue-log': return queueLog(c, out);
      case 'reset':
        await c.reset('requested by nvme reset');
        return c.state === 'live' ? 0 : 1;
      default:
        err(USAGE);
        return 1;
    }
  },
};

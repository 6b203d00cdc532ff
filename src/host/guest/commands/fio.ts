// fio: the command and its report, laid out like fio's normal output, ending with one stable summary line:
//   fio: randwrite iops=… bw=…MiB/s lat_p50=…us lat_p90=…us lat_p99=…us lat_p999=…us io_errors=0 verify_errors=0
import type { ShellCommand } from '../shell.ts';
import { LatencyLog, parseFioOptions, percentile, runFio, type DirStats, type FioResult, type FioSpec } from './fio-job.ts';
import { longOptions } from './util.ts';

const MiB = 1024 * 1024;

function kilo(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v));
}

function bwText(bytes: number, secs: number): string {
  const bps = secs > 0 ? bytes / secs : 0;
  return `BW=${(bps / MiB).toFixed(1)}MiB/s (${(bps / 1e6).toFixed(1)}MB/s)`;
}

const us = (ns: number): string => String(Math.round(ns / 1000));

function direction(label: 'read' | 'write', d: DirStats, secs: number): string {
  if (d.ios === 0) return '';
  const lat = d.lat.sorted();
  const sum = lat.reduce((a, b) => a + b, 0);
  const avg = sum / lat.length;
  const sd = Math.sqrt(lat.reduce((a, b) => a + (b - avg) ** 2, 0) / lat.length);
  const pct = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
  const cells = pct.map((p) => `${p.toFixed(2).padStart(5)}th=[${us(percentile(lat, p)).padStart(5)}]`);
  const rows: string[] = [];
  for (let i = 0; i < cells.length; i += 4) rows.push(`     | ${cells.slice(i, i + 4).join(', ')}${i + 4 < cells.length ? ',' : ''}`);
  return [
    `  ${label}: IOPS=${kilo(secs > 0 ? d.ios / secs : 0)}, ${bwText(d.bytes, secs)}(${Math.round(d.bytes / 1024)}KiB/${Math.round(secs * 1000)}msec)`,
    `    clat (usec): min=${us(lat[0] ?? 0)}, max=${us(lat[lat.length - 1] ?? 0)}, avg=${(avg / 1000).toFixed(2)}, stdev=${(sd / 1000).toFixed(2)}`,
    '    clat percentiles (usec):',
    ...rows,
  ].join('\n') + '\n';
}

/** The report; the last line is the stable summary that scripts grep. */
export function formatReport(spec: FioSpec, r: FioResult): string {
  const secs = r.elapsedNs / 1e9;
  const lines: string[] = [];
  lines.push(`${spec.name}: (g=0): rw=${spec.rw}, bs=(R) ${spec.bs}B-${spec.bs}B, (W) ${spec.bs}B-${spec.bs}B, ioengine=nvme, iodepth=${spec.iodepth}`);
  lines.push(`Starting ${spec.numjobs} process${spec.numjobs > 1 ? 'es' : ''}`);
  lines.push(`${spec.name}: (groupid=0, jobs=${spec.numjobs}): err=${r.ioErrors > 0 ? ' 5' : ' 0'}: pid=1`);
  let text = lines.join('\n') + '\n';
  text += direction('read', r.read, secs);
  text += direction('write', r.write, secs);
  for (const m of r.ioErrorMessages) text += `  io error: ${m}\n`;
  if (r.verify) {
    text += `  verify: ${r.verify.checked} blocks checked, ${r.verify.errors} errors\n`;
    for (const m of r.verify.messages) text += `  verify: ${m}\n`;
  }
  const all = new LatencyLog();
  all.merge(r.read.lat);
  all.merge(r.write.lat);
  const lat = all.sorted();
  const ios = r.read.ios + r.write.ios;
  const bytes = r.read.bytes + r.write.bytes;
  text += `\nRun status group 0 (all jobs):\n`;
  if (r.read.ios > 0) text += `   READ: ${bwText(r.read.bytes, secs).replace('BW=', 'bw=')}, io=${Math.round(r.read.bytes / 1024)}KiB, run=${Math.round(secs * 1000)}msec\n`;
  if (r.write.ios > 0) text += `  WRITE: ${bwText(r.write.bytes, secs).replace('BW=', 'bw=')}, io=${Math.round(r.write.bytes / 1024)}KiB, run=${Math.round(secs * 1000)}msec\n`;
  const p = (q: number): string => `${us(percentile(lat, q))}us`;
  text += `\nfio: ${spec.rw} iops=${Math.round(secs > 0 ? ios / secs : 0)} bw=${(secs > 0 ? bytes / secs / MiB : 0).toFixed(2)}MiB/s` +
    ` lat_p50=${p(50)} lat_p90=${p(90)} lat_p99=${p(99)} lat_p999=${p(99.9)}` +
    ` io_errors=${r.ioErrors} verify_errors=${r.verify ? r.verify.errors : 'n/a'}\n`;
  return text;
}

export const fio: ShellCommand = {
  name: 'fio',
  summary: 'I/O benchmark: --filename=/dev/nvme0n1 --rw= --bs= --iodepth= --size= --runtime= --numjobs= --verify=',
  async run({ args, k, out, err, signal }) {
    const { opts, positional } = longOptions(args);
    if (positional.length > 0) { err(`fio: job files are not supported (${positional[0] ?? ''}); use --options\n`); return 1; }
    const spec = parseFioOptions(opts);
    if (typeof spec === 'string') { err(`fio: ${spec}\n`); return 1; }
    const dev = k.blocks.get(spec.filename);
    if (!dev) { err(`fio: ${spec.filename}: No such device\n`); return 1; }
    if (spec.bs % dev.lbaSize !== 0) { err(`fio: bs=${spec.bs} is not a multiple of the ${dev.lbaSize}-byte block size\n`); return 1; }
    if (spec.offset % dev.lbaSize !== 0 || spec.offset >= dev.sizeBytes) { err(`fio: bad offset ${spec.offset}\n`); return 1; }
    if (Math.min(spec.size ?? dev.sizeBytes, dev.sizeBytes - spec.offset) < spec.bs * spec.numjobs) { err('fio: size is smaller than bs × numjobs\n'); return 1; }
    const result = await runFio(k, dev, spec, signal);
    out(formatReport(spec, result));
    return result.ioErrors > 0 || (result.verify?.errors ?? 0) > 0 ? 1 : 0;
  },
};

// CPU time from the kernel's own accounting (proc(5)), never estimated: a thread's utime + stime from
// /proc/thread-self/stat or /proc/self/task/<tid>/stat (fields 14 and 15, in clock ticks), and the whole process's
// from getrusage(RUSAGE_SELF) via process.cpuUsage(). Node 20 has no per-thread CPU clock, so /proc is the only way.
import { readFileSync, readlinkSync } from 'node:fs';

/** USER_HZ, the unit of utime/stime in /proc: 100 on every Linux ABI Node supports (sysconf(_SC_CLK_TCK)). */
export const CLK_TCK = 100;

/** utime + stime (seconds) from the text of a /proc/…/stat file. The comm field may hold spaces and ')'. */
export function parseStatCpuSec(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unparseable /proc stat: ${stat.slice(0, 80)}`);
  return (utime + stime) / CLK_TCK;
}

/** The calling thread's kernel thread id, or undefined where /proc/thread-self does not exist. */
export function currentTid(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds a thread has used (the calling thread when `tid` is undefined); undefined without /proc. */
export function threadCpuSec(tid?: number): number | undefined {
  try {
    return parseStatCpuSec(readFileSync(tid === undefined ? '/proc/thread-self/stat' : `/proc/self/task/${tid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** CPU seconds of the whole process, every thread including exited ones (getrusage, microsecond resolution). */
export function processCpuSec(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

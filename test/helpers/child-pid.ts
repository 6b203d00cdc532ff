// The pid of a direct child of `parent` whose command line matches `pattern` (e.g. the card process `nitrolab up`
// started), for fault tests that kill one process of a running system.
import { execFileSync } from 'node:child_process';

export function childPid(parent: number, pattern: RegExp): number | undefined {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], { encoding: 'utf8' });
  for (const l of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(l);
    if (m && pattern.test(m[2] ?? '')) return Number(m[1]);
  }
  return undefined;
}

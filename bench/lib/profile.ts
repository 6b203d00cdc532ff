// CPU profiling for benchmarks: an inspector session in the calling thread (main, worker or child process) writes a
// .cpuprofile (the same format as `node --cpu-prof`), and a summary of self time by function.
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';

export interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

export class Profiler {
  private session: Session | undefined;

  async start(): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 100 });
    await this.session.post('Profiler.start');
  }

  /** Stop, write the profile to `path`, and return it. */
  async stop(path: string): Promise<CpuProfile> {
    const s = this.session;
    if (s === undefined) throw new Error('profiler not started');
    const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    s.disconnect();
    this.session = undefined;
    await writeFile(path, JSON.stringify(profile));
    return profile;
  }
}

/** Self time per function (share of samples), largest first. */
export function topSelf(p: CpuProfile, n = 25): { fn: string; share: number }[] {
  const total = p.nodes.reduce((a, x) => a + (x.hitCount ?? 0), 0) || 1;
  const by = new Map<string, number>();
  for (const x of p.nodes) {
    const cf = x.callFrame;
    const file = cf.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/');
    const key = `${cf.functionName || '(anonymous)'} ${file}${file ? `:${cf.lineNumber + 1}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + (x.hitCount ?? 0));
  }
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, h]) => ({ fn, share: h / total }));
}

/** Self time per function over the samples taken in [fromUs, toUs] (CLOCK_MONOTONIC µs, as the profiles are). */
export function windowSelf(p: CpuProfile, fromUs: number, toUs: number, n: number): { fn: string; share: number }[] {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const by = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  (p.samples ?? []).forEach((id, i) => {
    t += p.timeDeltas?.[i] ?? 0;
    if (t < fromUs || t > toUs) return;
    const cf = byId.get(id)?.callFrame;
    const file = (cf?.url ?? '').replace(/^.*\/(src|bench|node_modules)\//u, '$1/');
    const key = `${cf?.functionName || '(anonymous)'} ${file}${file ? `:${(cf?.lineNumber ?? 0) + 1}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + 1);
    total++;
  });
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, h]) => ({ fn, share: h / Math.max(1, total) }));
}

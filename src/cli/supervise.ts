// Supervision for `nitrolab up`: a card or host process that dies is reported (which, how, last output) and started
// again with exponential backoff, with the same arguments — except that a restarted card keeps the management port
// it had, so the control plane's endpoint and token stay valid, and its stale link socket is removed first. Only what
// died is restarted: a host outlives its card (its guests keep running and it reconnects once the card is back on the
// same link address; docs/reliability.md § card crash and restart), so a card restart leaves the host alone. A host
// that dies by itself (or, with --link shm, together with its embedded card) is restarted once its card is ready.
import { rmSync } from 'node:fs';
import type { Logger } from '../common/log.ts';
import { reportDeath, spawnNitrolab, type ChildHandle } from './spawn.ts';

export interface SupervisedPair { hostId: string; card?: ChildHandle; host: ChildHandle; mgmtUrl: string }

export interface RestartPolicy {
  /** First delay, ms. */
  initialMs: number;
  /** Delay cap, ms. */
  maxMs: number;
  /** A child that stayed up this long starts again from `initialMs`. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialMs: 500, maxMs: 30_000, stableMs: 60_000 };

/** The default policy, with `NITROLAB_RESTART_STABLE_MS` (how long a child must stay up for its next crash to count
 *  as a first one again) when set — crash-cycle tests use a short one so that each kill is restarted after 0.5 s. */
export function restartPolicyFromEnv(env: NodeJS.ProcessEnv): RestartPolicy {
  const stable = Number(env['NITROLAB_RESTART_STABLE_MS']);
  return Number.isInteger(stable) && stable > 0 ? { ...DEFAULT_RESTART_POLICY, stableMs: stable } : DEFAULT_RESTART_POLICY;
}

/** Exponential backoff: initial, ×2 per consecutive failure, capped; reset after a stable run. */
export class Backoff {
  private failures = 0;
  private lastStart = 0;
  constructor(private readonly p: RestartPolicy, private readonly now: () => number = Date.now) {}
  started(): void { this.lastStart = this.now(); }
  /** The delay before the next start, counting this failure. */
  nextDelay(): { delayMs: number; attempt: number } {
    if (this.lastStart !== 0 && this.now() - this.lastStart >= this.p.stableMs) this.failures = 0;
    this.failures++;
    return { delayMs: Math.min(this.p.maxMs, this.p.initialMs * 2 ** (this.failures - 1)), attempt: this.failures };
  }
}

/** Arguments for a restart: the same, with `--mgmt-port` pinned to the port the first run was given. */
export function restartArgs(args: readonly string[], mgmtUrl: string | undefined): string[] {
  const out = [...args];
  const i = out.indexOf('--mgmt-port');
  const port = mgmtUrl !== undefined ? /:(\d+)\/?$/.exec(mgmtUrl)?.[1] : undefined;
  if (i >= 0 && port !== undefined) out[i + 1] = port;
  return out;
}

function removeStaleSocket(args: readonly string[]): void {
  const i = args.indexOf('--listen');
  const addr = i >= 0 ? args[i + 1] : undefined;
  if (addr !== undefined && addr.includes('/')) rmSync(addr.replace(/^unix:/, ''), { force: true });
}

export interface SuperviseOptions {
  log: Logger;
  pretty: boolean;
  stopping(): boolean;
  policy?: RestartPolicy;
}

/** Watch every child of `pairs`; replace dead ones in place (so `pairs` always holds the live handles). */
export function supervise(pairs: SupervisedPair[], o: SuperviseOptions): void {
  const policy = o.policy ?? DEFAULT_RESTART_POLICY;
  for (const pair of pairs) {
    const cardBackoff = new Backoff(policy);
    const hostBackoff = new Backoff(policy);
    const watch = (role: 'card' | 'host', h: ChildHandle, backoff: Backoff): void => {
      backoff.started();
      void h.exited.then(async (how) => {
        if (o.stopping()) return;
        reportDeath(o.log, h, how);
        const { delayMs, attempt } = backoff.nextDelay();
        o.log.warn({ event: 'child-restarting', child: h.name, attempt, delayMs }, `${h.name} restarting in ${delayMs} ms (attempt ${attempt})`);
        await new Promise((r) => setTimeout(r, delayMs));
        if (o.stopping()) return;
        if (role === 'host' && pair.card) {
          // The host needs its card: wait for the current card process to be ready (it may be restarting too).
          for (;;) {
            const card = pair.card;
            try { await card.ready; break; } catch { await new Promise((r) => setTimeout(r, 200)); if (o.stopping()) return; }
          }
        }
        const args = role === 'card' ? restartArgs(h.args, pair.mgmtUrl) : [...h.args];
        if (role === 'card') removeStaleSocket(args);
        const next = spawnNitrolab(h.name, args, o.log, { pretty: o.pretty });
        if (role === 'card') pair.card = next; else pair.host = next;
        watch(role, next, backoff);
        next.ready.then(() => {
          o.log.warn({ event: 'child-restarted', child: h.name, attempt, pid: next.proc.pid }, `${h.name} restarted (attempt ${attempt}, pid ${next.proc.pid})`);
          if (role === 'card' && pair.host.proc.exitCode === null && pair.host.proc.signalCode === null) {
            o.log.warn({ event: 'host-kept', child: pair.host.name, pid: pair.host.proc.pid }, `${pair.host.name} not restarted: it keeps running and reconnects to the restarted card`);
          }
        }, () => { /* its death is reported by its own watch */ });
      });
    };
    if (pair.card) watch('card', pair.card, cardBackoff);
    watch('host', pair.host, hostBackoff);
  }
}

// A per-event rate limit on a device's log: a misbehaving guest can make a device log on every doorbell write, and
// must not be able to flood the card's log (and the CPU that writes it) that way. Each named event may log `burst`
// times per window; the rest are counted and reported once, as `log-suppressed`, when the window turns. Errors are
// never suppressed (they are emulator bugs, not guest behaviour). Metrics are unaffected: devices count every event.
import type { DeviceLog } from '../devices/contract.ts';

export interface LogLimit { burst: number; windowMs: number }

export const DEFAULT_LOG_LIMIT: LogLimit = { burst: 20, windowMs: 1000 };

export function limitDeviceLog(log: DeviceLog, limit: LogLimit = DEFAULT_LOG_LIMIT, now: () => number = Date.now): DeviceLog {
  const seen = new Map<string, { start: number; n: number; suppressed: number }>();
  const pass = (obj: object): boolean => {
    const ev = (obj as { event?: unknown }).event;
    if (typeof ev !== 'string') return true;
    const t = now();
    let s = seen.get(ev);
    if (s === undefined || t - s.start >= limit.windowMs) {
      if (s !== undefined && s.suppressed > 0) {
        log.warn({ event: 'log-suppressed', suppressedEvent: ev, count: s.suppressed, windowMs: limit.windowMs }, `${s.suppressed} more ${ev} events not logged`);
      }
      s = { start: t, n: 0, suppressed: 0 };
      seen.set(ev, s);
    }
    if (s.n < limit.burst) { s.n++; return true; }
    s.suppressed++;
    return false;
  };
  return {
    debug: (obj, msg) => { if (pass(obj)) log.debug(obj, msg); },
    info: (obj, msg) => { if (pass(obj)) log.info(obj, msg); },
    warn: (obj, msg) => { if (pass(obj)) log.warn(obj, msg); },
    error: (obj, msg) => log.error(obj, msg),
  };
}

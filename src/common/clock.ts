// The real clock behind the Clock contract (tests inject a stepped one instead).
import type { Clock } from '../devices/contract.ts';

export const realClock: Clock = {
  nowNs: () => process.hrtime.bigint(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

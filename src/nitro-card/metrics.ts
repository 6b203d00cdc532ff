// The card's counters and histograms. Devices report through the DeviceMetrics contract; names are prefixed with the
// function's kind so one snapshot covers every function on the card.
import type { DeviceMetrics } from '../devices/contract.ts';

export class CardMetrics {
  readonly counters = new Map<string, number>();
  private readonly sums = new Map<string, { count: number; sum: number; max: number }>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  observe(name: string, value: number): void {
    const s = this.sums.get(name) ?? { count: 0, sum: 0, max: 0 };
    s.count++;
    s.sum += value;
    if (value > s.max) s.max = value;
    this.sums.set(name, s);
  }

  /** A DeviceMetrics view that prefixes every name (e.g. `nvme.`), for one function's device model. */
  scoped(prefix: string): DeviceMetrics {
    return {
      inc: (name, by) => this.inc(`${prefix}.${name}`, by),
      observe: (name, value) => this.observe(`${prefix}.${name}`, value),
    };
  }

  snapshot(): { counters: Record<string, number>; observations: Record<string, { count: number; mean: number; max: number }> } {
    const observations: Record<string, { count: number; mean: number; max: number }> = {};
    for (const [k, s] of this.sums) observations[k] = { count: s.count, mean: s.count ? s.sum / s.count : 0, max: s.max };
    return { counters: Object.fromEntries(this.counters), observations };
  }
}

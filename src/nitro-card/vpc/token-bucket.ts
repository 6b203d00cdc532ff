// Token buckets as Firecracker's rate limiter defines them (src/vmm/src/rate_limiter): `size` tokens refilled
// linearly over `refill_time` ms, plus a `one_time_burst` of extra tokens spent first and never refilled. An ENI has
// one bandwidth bucket (bytes) and one ops bucket (packets) per direction; a frame passes only if both have room.
// Time is injected (nanoseconds) so tests step it.

export interface TokenBucketConfig {
  /** Bucket capacity in tokens (bytes or packets). 0 disables the bucket (everything passes). */
  size: number;
  /** Extra initial tokens, consumed before the regular budget and never refilled. */
  oneTimeBurst: number;
  /** Time in ms to refill `size` tokens from empty. */
  refillTimeMs: number;
}

export class TokenBucket {
  private budget: number;
  private burst: number;
  private lastNs: bigint;

  constructor(readonly config: TokenBucketConfig, nowNs: bigint) {
    if (!(config.size >= 0 && config.oneTimeBurst >= 0 && config.refillTimeMs > 0)) {
      throw new RangeError(`token bucket size ${config.size}, burst ${config.oneTimeBurst}, refill ${config.refillTimeMs} ms is invalid`);
    }
    this.budget = config.size;
    this.burst = config.oneTimeBurst;
    this.lastNs = nowNs;
  }

  get available(): number { return this.budget + this.burst; }

  private refill(nowNs: bigint): void {
    if (nowNs <= this.lastNs) return;
    const elapsedMs = Number(nowNs - this.lastNs) / 1e6;
    this.lastNs = nowNs;
    this.budget = Math.min(this.config.size, this.budget + (elapsedMs * this.config.size) / this.config.refillTimeMs);
  }

  /**
   * Take `tokens` if there is room (burst first). A request larger than the whole bucket passes only when the
   * bucket is full, and empties it (Firecracker's over-consumption case), so oversize frames are not starved forever.
   */
  consume(tokens: number, nowNs: bigint): boolean {
    if (this.config.size === 0) return true;
    this.refill(nowNs);
    const need = tokens;
    if (this.burst > 0) {
      const fromBurst = Math.min(this.burst, need);
      if (fromBurst === need) { this.burst -= need; return true; }
      if (this.budget >= need - fromBurst) { this.burst = 0; this.budget -= need - fromBurst; return true; }
    }
    if (need <= this.budget) { this.budget -= need; return true; }
    if (need > this.config.size && this.budget >= this.config.size) { this.budget = 0; return true; }
    return false;
  }
}

/** Per-direction limits of an ENI: a bandwidth bucket in bytes and an ops bucket in packets. */
export interface EniLimits { bandwidth: TokenBucketConfig; ops: TokenBucketConfig }

/** Limits from an instance type's network figures (Gbit/s baseline and "up to" peak) and a pps allowance. */
export function limitsFromNetwork(baselineGbps: number, peakGbps: number, pps: number): EniLimits {
  const refillTimeMs = 100;
  const bytesPerRefill = Math.round((baselineGbps * 1e9) / 8 / (1000 / refillTimeMs));
  // "Up to" types burst above the baseline on credits; model the credits as a one-time burst of 10 s at the peak.
  const burstBytes = peakGbps > baselineGbps ? Math.round(((peakGbps - baselineGbps) * 1e9) / 8 * 10) : 0;
  return {
    bandwidth: { size: bytesPerRefill, oneTimeBurst: burstBytes, refillTimeMs },
    ops: { size: Math.round(pps / (1000 / refillTimeMs)), oneTimeBurst: 0, refillTimeMs },
  };
}

// Per-volume EBS performance limits on the card: an IOPS bucket and a throughput bucket in front of a volume's
// BlockBackend (reference/nitro.md §3.2: "ebs_volume_performance_exceeded_iops/tp"). EBS counts SSD I/O in units of
// up to 256 KiB, so a 1 MiB request costs 4 IOPS tokens. Buckets run in debt: a request always takes its tokens and
// waits until the balance is back to zero, so requests are released in arrival order at exactly the provisioned rate.
// The wall-clock time during which some request was held by a bucket is added to the namespace's IoStats (the 0xD0
// statistics page) and to the card's metrics. Time is injected (nanoseconds + timers) so tests step it.
import type { BlockBackend } from '../../devices/nvme/backend.ts';
import type { Clock, DeviceMetrics } from '../../devices/contract.ts';
import type { IoStats } from '../../devices/nvme/metrics.ts';

/** EBS SSD volumes count an I/O of up to 256 KiB as one operation. */
export const EBS_IO_UNIT_BYTES = 256 * 1024;
/** gp3 baseline (EC2 UG "General Purpose SSD volumes"): used when a volume names no limits. */
export const GP3_BASELINE = { iops: 3000, throughputMiBps: 125 } as const;
/** Each bucket holds this much of a second's worth of tokens (the burst a volume can absorb at once). */
const BURST_SECONDS = 0.1;

export interface VolumeLimits {
  /** Provisioned IOPS; 0 = unlimited. */
  readonly iops: number;
  /** Provisioned throughput in MiB/s; 0 = unlimited. */
  readonly throughputMiBps: number;
}

/** A rate in tokens per second with a burst capacity; the balance may go negative (debt). */
export class DebtBucket {
  private tokens: number;
  private lastNs: bigint;
  readonly capacity: number;

  constructor(readonly ratePerSec: number, nowNs: bigint, minCapacity = 1) {
    this.capacity = Math.max(minCapacity, ratePerSec * BURST_SECONDS);
    this.tokens = this.capacity;
    this.lastNs = nowNs;
  }

  /** Take `n` tokens; returns how many ns to wait before the taker may go (0 = at once). */
  take(n: number, nowNs: bigint): number {
    if (this.ratePerSec <= 0) return 0;
    if (nowNs > this.lastNs) {
      this.tokens = Math.min(this.capacity, this.tokens + (Number(nowNs - this.lastNs) / 1e9) * this.ratePerSec);
      this.lastNs = nowNs;
    }
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSec) * 1e9);
  }
}

export interface ThrottleSnapshot {
  limits: VolumeLimits;
  /** Wall time (µs) during which the IOPS / throughput bucket held at least one request. */
  iopsThrottledUs: number;
  tpThrottledUs: number;
  /** Requests that had to wait. */
  delayedRequests: number;
  requests: number;
}

/** Accumulates "some request was held until T" into wall time, without double-counting overlapping waits. */
class ThrottleClock {
  private untilNs = 0n;
  totalUs = 0;
  hold(nowNs: bigint, waitNs: number): void {
    if (waitNs <= 0) return;
    const end = nowNs + BigInt(waitNs);
    const from = nowNs > this.untilNs ? nowNs : this.untilNs;
    if (end > from) this.totalUs += Number(end - from) / 1000;
    if (end > this.untilNs) this.untilNs = end;
  }
}

/** A BlockBackend that admits requests through the volume's IOPS and throughput buckets. */
export class ThrottledBackend implements BlockBackend {
  private iops: DebtBucket;
  private tp: DebtBucket;
  private readonly iopsClock = new ThrottleClock();
  private readonly tpClock = new ThrottleClock();
  private stats: IoStats | undefined;
  private delayed = 0;
  private requests = 0;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private limitsNow: VolumeLimits;

  constructor(
    readonly inner: BlockBackend,
    limits: VolumeLimits,
    private readonly clock: Clock,
    private readonly metrics?: DeviceMetrics,
  ) {
    this.limitsNow = limits;
    const now = clock.nowNs();
    this.iops = new DebtBucket(limits.iops, now, 1);
    this.tp = new DebtBucket(limits.throughputMiBps * 1024 * 1024, now, EBS_IO_UNIT_BYTES);
  }

  get sizeBytes(): number { return this.inner.sizeBytes; }
  get limits(): VolumeLimits { return this.limitsNow; }

  /** Report throttled time into this namespace's statistics (the 0xD0 log page). */
  attachStats(stats: IoStats): void {
    this.stats = stats;
  }

  /** Change the provisioned limits (ModifyVolume); the buckets start full. */
  setLimits(limits: VolumeLimits): void {
    const now = this.clock.nowNs();
    this.limitsNow = limits;
    this.iops = new DebtBucket(limits.iops, now, 1);
    this.tp = new DebtBucket(limits.throughputMiBps * 1024 * 1024, now, EBS_IO_UNIT_BYTES);
  }

  snapshot(): ThrottleSnapshot {
    return {
      limits: this.limitsNow,
      iopsThrottledUs: Math.round(this.iopsClock.totalUs),
      tpThrottledUs: Math.round(this.tpClock.totalUs),
      delayedRequests: this.delayed,
      requests: this.requests,
    };
  }

  /** Wait for both buckets; `bytes` 0 (flush) costs one operation and no throughput. */
  private async admit(bytes: number): Promise<void> {
    this.requests++;
    const now = this.clock.nowNs();
    const ops = Math.max(1, Math.ceil(bytes / EBS_IO_UNIT_BYTES));
    const waitIops = this.iops.take(ops, now);
    const waitTp = bytes > 0 ? this.tp.take(bytes, now) : 0;
    if (waitIops === 0 && waitTp === 0) return;
    this.delayed++;
    const beforeIops = this.iopsClock.totalUs;
    const beforeTp = this.tpClock.totalUs;
    this.iopsClock.hold(now, waitIops);
    this.tpClock.hold(now, waitTp);
    const dIops = Math.round(this.iopsClock.totalUs) - Math.round(beforeIops);
    const dTp = Math.round(this.tpClock.totalUs) - Math.round(beforeTp);
    if (this.stats !== undefined) {
      this.stats.volumeIopsExceededUs += dIops;
      this.stats.volumeTpExceededUs += dTp;
    }
    this.metrics?.inc('throttle.delayed');
    if (dIops > 0) this.metrics?.inc('throttle.iops_exceeded_us', dIops);
    if (dTp > 0) this.metrics?.inc('throttle.tp_exceeded_us', dTp);
    const waitMs = Math.max(waitIops, waitTp) / 1e6;
    await new Promise<void>((resolve) => { this.clock.setTimer(waitMs, resolve); });
  }

  /** Run one request, counted in flight from admission to completion (close() waits for these). */
  private async run<T>(bytes: number | null, op: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      if (bytes !== null) await this.admit(bytes);
      return await op();
    } finally {
      if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves when no request is held by a bucket or running in the volume. */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  read(offset: number, dst: Uint8Array): Promise<void> {
    return this.run(dst.byteLength, () => this.inner.read(offset, dst));
  }

  write(offset: number, src: Uint8Array, fua: boolean): Promise<void> {
    return this.run(src.byteLength, () => this.inner.write(offset, src, fua));
  }

  flush(): Promise<void> {
    return this.run(null, () => this.inner.flush());
  }

  discard(offset: number, length: number): Promise<void> {
    return this.run(0, () => this.inner.discard(offset, length));
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    return this.run(0, () => this.inner.writeZeroes(offset, length, fua));
  }

  /** Detach semantics: wait for requests held by a bucket or in flight, then close the volume's connection. */
  async close(): Promise<void> {
    await this.whenIdle();
    await this.inner.close();
  }
}

/** Limits for a volume spec: missing values take the gp3 baseline. */
export function limitsFor(spec: { iops?: number | undefined; throughputMiBps?: number | undefined }): VolumeLimits {
  return { iops: spec.iops ?? GP3_BASELINE.iops, throughputMiBps: spec.throughputMiBps ?? GP3_BASELINE.throughputMiBps };
}

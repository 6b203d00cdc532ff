// Cumulative block I/O counters of a set of NVMe controllers (their namespaces' EBS-style IoStats), summed, so a
// sampler can turn two readings into IOPS, MB/s, queue depth and latency percentiles.
import type { NvmeController } from '../devices/nvme/index.ts';
import { binLower, binUpper, HISTOGRAM_BINS } from '../devices/nvme/metrics.ts';

export interface IoTotals {
  ops: number;
  readBytes: number;
  writeBytes: number;
  /** Commands in flight right now. */
  queueDepth: number;
  /** Completed-command latency histogram (NVMe metrics bins, µs), reads and writes together. */
  histogram: number[];
}

export function emptyIoTotals(): IoTotals {
  return { ops: 0, readBytes: 0, writeBytes: 0, queueDepth: 0, histogram: new Array<number>(HISTOGRAM_BINS).fill(0) };
}

export function ioTotalsOf(controllers: Iterable<NvmeController>): IoTotals {
  const t = emptyIoTotals();
  for (const c of controllers) {
    for (const ns of c.namespaces.values()) addStats(t, ns.stats);
  }
  return t;
}

function addStats(t: IoTotals, s: { readOps: number; writeOps: number; readBytes: number; writeBytes: number; queueLength: number; readHistogram: Uint32Array; writeHistogram: Uint32Array }): void {
  t.ops += s.readOps + s.writeOps;
  t.readBytes += s.readBytes;
  t.writeBytes += s.writeBytes;
  t.queueDepth += s.queueLength;
  for (let i = 0; i < HISTOGRAM_BINS; i++) t.histogram[i] = (t.histogram[i] ?? 0) + (s.readHistogram[i] ?? 0) + (s.writeHistogram[i] ?? 0);
}

export function addIoTotals(a: IoTotals, b: IoTotals): IoTotals {
  return {
    ops: a.ops + b.ops, readBytes: a.readBytes + b.readBytes, writeBytes: a.writeBytes + b.writeBytes,
    queueDepth: a.queueDepth + b.queueDepth, histogram: a.histogram.map((v, i) => v + (b.histogram[i] ?? 0)),
  };
}

/** The q-quantile (0..1) of a histogram, interpolated linearly inside its power-of-two bin; 0 when empty. */
export function histogramQuantile(hist: readonly number[], q: number): number {
  const total = hist.reduce((s, v) => s + v, 0);
  if (total === 0) return 0;
  const want = q * total;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const n = hist[i] ?? 0;
    if (n > 0 && seen + n >= want) {
      const lo = binLower(i);
      const hi = binUpper(i);
      return lo + ((want - seen) / n) * (hi - lo);
    }
    seen += n;
  }
  return binUpper(hist.length - 1);
}

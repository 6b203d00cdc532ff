// Counters the controller keeps for itself (SMART / Health log, EBS statistics log page 0xD0) and the names it
// reports through DeviceContext.metrics. Metric names are precomputed so the hot path does no string building.
import { AdminOpc, IoOpc } from './regs.ts';
import { statusName } from './status.ts';

/** Latency histogram bins (µs): bin 0 = [0, 2), bin i = [2^i, 2^(i+1)); the last bin is open-ended. */
export const HISTOGRAM_BINS = 28;

export function histogramBin(us: number): number {
  if (us < 2) return 0;
  const b = 31 - Math.clz32(Math.min(us, 0x7fff_ffff) | 0);
  return b >= HISTOGRAM_BINS ? HISTOGRAM_BINS - 1 : b;
}

export function binLower(i: number): number {
  return i === 0 ? 0 : 2 ** i;
}
export function binUpper(i: number): number {
  return 2 ** (i + 1);
}

/** Per-namespace I/O statistics, in the shape of the EBS statistics log page (reference/nitro.md §3.2). */
export class IoStats {
  readOps = 0;
  writeOps = 0;
  readBytes = 0;
  writeBytes = 0;
  /** Sum of completed read/write latencies, µs. */
  readTimeUs = 0;
  writeTimeUs = 0;
  /** Time spent throttled (µs), set by a limiter in front of the namespace; 0 when nothing throttles. */
  volumeIopsExceededUs = 0;
  volumeTpExceededUs = 0;
  instanceIopsExceededUs = 0;
  instanceTpExceededUs = 0;
  /** I/O commands in flight right now. */
  queueLength = 0;
  readonly readHistogram = new Uint32Array(HISTOGRAM_BINS);
  readonly writeHistogram = new Uint32Array(HISTOGRAM_BINS);

  recordRead(bytes: number, us: number): void {
    this.readOps++;
    this.readBytes += bytes;
    this.readTimeUs += us;
    this.readHistogram[histogramBin(us)]!++;
  }

  recordWrite(bytes: number, us: number): void {
    this.writeOps++;
    this.writeBytes += bytes;
    this.writeTimeUs += us;
    this.writeHistogram[histogramBin(us)]!++;
  }
}

/** Controller-wide health counters (SMART / Health log, specs.md §2.8). */
export class HealthCounters {
  /** Bytes read/written by host commands (Data Units are derived: 1000 × 512 B, rounded up). */
  bytesRead = 0;
  bytesWritten = 0;
  hostReadCommands = 0;
  hostWriteCommands = 0;
  /** Controller busy time, ns (reported in minutes). */
  busyNs = 0;
  powerCycles = 1;
  unsafeShutdowns = 0;
  mediaErrors = 0;
  /** Total errors ever logged (Error Information log entry count). */
  errorCount = 0;
}

const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
const ADMIN_NAMES = new Map<number, string>(Object.entries(AdminOpc).map(([k, v]) => [v, k.toLowerCase()]));
const IO_NAMES = new Map<number, string>(Object.entries(IoOpc).map(([k, v]) => [v, k.toLowerCase()]));

/** `nvme.cmd.admin.<name>` / `nvme.cmd.io.<name>` for every opcode, precomputed. */
export const ADMIN_CMD_METRIC: readonly string[] = Array.from({ length: 256 }, (_, i) => `nvme.cmd.admin.${ADMIN_NAMES.get(i) ?? hex2(i)}`);
export const IO_CMD_METRIC: readonly string[] = Array.from({ length: 256 }, (_, i) => `nvme.cmd.io.${IO_NAMES.get(i) ?? hex2(i)}`);

const statusMetricCache = new Map<number, string>();
/** `nvme.status.<name>` for an error status field. */
export function statusMetric(field: number): string {
  let m = statusMetricCache.get(field);
  if (m === undefined) {
    m = `nvme.status.${statusName(field)}`;
    statusMetricCache.set(field, m);
  }
  return m;
}

export const Metric = {
  BYTES_READ: 'nvme.bytes_read',
  BYTES_WRITTEN: 'nvme.bytes_written',
  QUEUE_DEPTH: 'nvme.queue_depth',
  DOORBELLS: 'nvme.doorbells',
  SQE_FETCHED: 'nvme.sqe_fetched',
  CQE_POSTED: 'nvme.cqe_posted',
  INTERRUPTS: 'nvme.interrupts',
  INVALID_DOORBELL: 'nvme.invalid_doorbell',
  DMA_FAULTS: 'nvme.dma_faults',
  BACKEND_ERRORS: 'nvme.backend_errors',
  CONTROLLER_FATAL: 'nvme.controller_fatal',
  ENABLE_FAILED: 'nvme.enable_failed',
  CQ_HELD: 'nvme.cq_held',
  SQ_DMA_READS: 'nvme.sq_dma_reads',
  SQE_PUSHED: 'nvme.sqe_pushed',
  PUSH_STALE: 'nvme.push_stale',
} as const;

/** How SQEs reached the controller and how often it interrupted (vendor log page C0h, QueueStatsLog). I/O queues
 *  only: the admin SQ is always fetched by DMA. */
export class QueueStats {
  /** DMA reads that fetched I/O SQEs, and the SQEs they fetched. */
  ioSqDmaReads = 0;
  ioSqeDmaFetched = 0;
  /** SQEs taken from DOORBELL_PUSH frames; push frames taken; pushes whose start slot was not the SQ tail (their
   *  entries were dropped and fetched by DMA instead). */
  sqePushed = 0;
  pushFrames = 0;
  pushStale = 0;
  /** I/O completions posted, and the I/O CQ interrupts raised for them. */
  ioCqePosted = 0;
  ioInterrupts = 0;
}

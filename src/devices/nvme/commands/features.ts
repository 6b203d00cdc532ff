// Get Features / Set Features (NVMe Base 1.4 §5.21; specs.md §2.8): feature state with its defaults and handlers.
import type { NvmeController } from '../nvme.ts';
import type { Command } from '../command.ts';
import { Fid } from '../regs.ts';
import { DNR, Sc } from '../status.ts';
import { OAES_NS_ATTR } from '../identify.ts';
import { viewOf } from '../../layout.ts';

/** Get Features SEL (CDW10 10:8). */
const Sel = { CURRENT: 0, DEFAULT: 1, SAVED: 2, SUPPORTED: 3 } as const;
/** Supported-capabilities bits returned for SEL = 011b: changeable (bit 2); nothing is saveable or per-namespace. */
const CAP_CHANGEABLE = 1 << 2;

/** Async Event Configuration bits this controller honours: SMART critical warnings 7:0 and NS attribute notices. */
const AEC_SUPPORTED = 0xff | OAES_NS_ATTR;

export class FeatureState {
  arbitration = 0;
  powerManagement = 0;
  temperatureThreshold = 343; // kelvin, = WCTEMP
  errorRecovery = 0;
  /** Volatile Write Cache enable (WCE); when 0 every write is made durable. */
  writeCache = true;
  /** Interrupt Coalescing: THR 7:0 (0-based), TIME 15:8 (100 µs units). */
  coalescing = 0;
  /** Interrupt Vector Configuration: vectors with Coalescing Disable set. */
  readonly coalescingDisabled = new Set<number>();
  /** Submission Push (vendor FID C0h): I/O SQs take SQEs pushed with their doorbell. */
  push = false;
  /** Async Event Configuration; namespace attribute notices are on by default. */
  asyncEventConfig = OAES_NS_ATTR;
  /** Number of Queues granted (0-based NSQA / NCQA); set at most once per reset. */
  nsqa: number;
  ncqa: number;
  queuesSet = false;
  /** Timestamp: host value (ms) and controller clock (ns) when it was set; null until set. */
  timestamp: { ms: number; atNs: bigint } | null = null;

  constructor(readonly maxIoQueues: number) {
    this.nsqa = maxIoQueues - 1;
    this.ncqa = maxIoQueues - 1;
  }

  /** Coalescing applies to this I/O CQ's vector: TIME ≠ 0 and not disabled for the vector. */
  coalesces(iv: number): boolean {
    return (this.coalescing & 0xff00) !== 0 && !this.coalescingDisabled.has(iv);
  }
  get threshold(): number { return (this.coalescing & 0xff) + 1; }
  get timeMs(): number { return ((this.coalescing >> 8) & 0xff) * 0.1; }
}

function defaultValue(c: NvmeController, fid: number, cmd: Command): number | undefined {
  const f = new FeatureState(c.ioQueueCount);
  return currentValue(c, f, fid, cmd);
}

function currentValue(c: NvmeController, f: FeatureState, fid: number, cmd: Command): number | undefined {
  switch (fid) {
    case Fid.ARBITRATION: return f.arbitration;
    case Fid.POWER_MANAGEMENT: return f.powerManagement;
    case Fid.TEMPERATURE_THRESHOLD: return f.temperatureThreshold;
    case Fid.ERROR_RECOVERY: return f.errorRecovery;
    case Fid.VOLATILE_WRITE_CACHE: return f.writeCache ? 1 : 0;
    case Fid.NUMBER_OF_QUEUES: return ((f.ncqa << 16) | f.nsqa) >>> 0;
    case Fid.INTERRUPT_COALESCING: return f.coalescing;
    case Fid.INTERRUPT_VECTOR_CONFIG: {
      const iv = cmd.cdw11 & 0xffff;
      if (iv >= c.msixVectors) return undefined;
      return (iv | (f.coalescingDisabled.has(iv) ? 1 << 16 : 0)) >>> 0;
    }
    case Fid.ASYNC_EVENT_CONFIG: return f.asyncEventConfig;
    case Fid.TIMESTAMP: return 0;
    case Fid.SUBMISSION_PUSH: return f.push ? 1 : 0;
    default: return undefined;
  }
}

const TIMESTAMP_BYTES = 8;

/** Timestamp data: 48-bit ms, then attributes (bit 0 synch = 0, bits 3:1 origin: 001b set by host). */
function timestampData(c: NvmeController, out: Uint8Array): void {
  const t = c.features.timestamp;
  const nowNs = c.ctx.clock.nowNs();
  const ms = t === null ? Number(nowNs / 1_000_000n) : t.ms + Number((nowNs - t.atNs) / 1_000_000n);
  const v = viewOf(out);
  v.setUint32(0, ms >>> 0, true);
  v.setUint16(4, Math.floor(ms / 0x1_0000_0000) & 0xffff, true);
  out[6] = t === null ? 0 : 0x02;
  out[7] = 0;
}

export async function getFeatures(c: NvmeController, cmd: Command): Promise<void> {
  const fid = cmd.cdw10 & 0xff;
  const sel = (cmd.cdw10 >> 8) & 0x7;
  if (sel > Sel.SUPPORTED) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
  const value = sel === Sel.CURRENT ? currentValue(c, c.features, fid, cmd) : defaultValue(c, fid, cmd);
  if (value === undefined) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
  if (sel === Sel.SUPPORTED) { cmd.dw0 = fid === Fid.NUMBER_OF_QUEUES ? 0 : CAP_CHANGEABLE; return; }
  cmd.dw0 = value;
  if (fid === Fid.TIMESTAMP) {
    const buf = new Uint8Array(TIMESTAMP_BYTES);
    timestampData(c, buf);
    cmd.fail(await c.dataToHost(cmd, buf, TIMESTAMP_BYTES));
  }
}

export async function setFeatures(c: NvmeController, cmd: Command): Promise<void> {
  const fid = cmd.cdw10 & 0xff;
  const save = (cmd.cdw10 >>> 31) === 1;
  const f = c.features;
  const v = cmd.cdw11;
  if (save) { cmd.fail(Sc.FEATURE_NOT_SAVEABLE | DNR); return; }
  switch (fid) {
    case Fid.ARBITRATION: f.arbitration = v; return;
    case Fid.POWER_MANAGEMENT: f.powerManagement = v & 0x1f; return;
    case Fid.TEMPERATURE_THRESHOLD: f.temperatureThreshold = v & 0xffff; return;
    case Fid.ERROR_RECOVERY: f.errorRecovery = v & 0xffff; return;
    case Fid.VOLATILE_WRITE_CACHE: f.writeCache = (v & 1) === 1; return;
    case Fid.NUMBER_OF_QUEUES: {
      const nsqr = v & 0xffff;
      const ncqr = v >>> 16;
      if (nsqr === 0xffff || ncqr === 0xffff) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
      if (f.queuesSet || c.ioQueuesCreated()) { cmd.fail(Sc.COMMAND_SEQUENCE_ERROR | DNR); return; }
      f.nsqa = Math.min(nsqr, c.ioQueueCount - 1);
      f.ncqa = Math.min(ncqr, c.ioQueueCount - 1);
      f.queuesSet = true;
      cmd.dw0 = ((f.ncqa << 16) | f.nsqa) >>> 0;
      return;
    }
    case Fid.INTERRUPT_COALESCING: f.coalescing = v & 0xffff; return;
    case Fid.INTERRUPT_VECTOR_CONFIG: {
      const iv = v & 0xffff;
      if (iv >= c.msixVectors) { cmd.fail(Sc.INVALID_FIELD | DNR); return; }
      if ((v >> 16) & 1) f.coalescingDisabled.add(iv);
      else f.coalescingDisabled.delete(iv);
      return;
    }
    case Fid.ASYNC_EVENT_CONFIG: f.asyncEventConfig = v & AEC_SUPPORTED; return;
    case Fid.SUBMISSION_PUSH: f.push = (v & 1) === 1; return;
    case Fid.TIMESTAMP: {
      const buf = new Uint8Array(TIMESTAMP_BYTES);
      const st = await c.dataFromHost(cmd, buf, TIMESTAMP_BYTES);
      if (st !== Sc.SUCCESS) { cmd.fail(st); return; }
      const dv = viewOf(buf);
      f.timestamp = { ms: dv.getUint32(0, true) + dv.getUint16(4, true) * 0x1_0000_0000, atNs: c.ctx.clock.nowNs() };
      return;
    }
    default:
      cmd.fail(Sc.INVALID_FIELD | DNR);
  }
}

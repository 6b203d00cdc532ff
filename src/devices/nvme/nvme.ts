// The NVMe controller as a PCI device model (NVMe Base 1.4 §3, §7; specs.md §2): BAR0 registers through a table,
// the CC.EN / CSTS.RDY and CC.SHN / CSTS.SHST handshakes, doorbells, namespaces and asynchronous events.
// The queue engine (fetch, run, complete, interrupt) lives in engine.ts; commands live in commands/.
import type { BarDecl, BarRegion, DeviceContext, PciDeviceModel, PciIdentity, PushedEntries, PushRefusal, TraceEvent } from '../contract.ts';
import type { BlockBackend } from './backend.ts';
import { AsyncEvents, type AsyncEvent } from './aer.ts';
import { BufferPool } from './buffers.ts';
import type { Command } from './command.ts';
import { QueueEngine } from './engine.ts';
import { FeatureState } from './commands/features.ts';
import type { ControllerInfo } from './identify.ts';
import { ErrorLog } from './log-pages.ts';
import { HealthCounters, Metric } from './metrics.ts';
import { Namespace } from './namespace.ts';
import { copyFromHost, copyToHost, mapPrps, type PrpContext } from './prp.ts';
import type { CompletionQueue, SubmissionQueue } from './queue.ts';
import {
  AQA, AsyncErrorInfo, AsyncEventType, AsyncNoticeInfo, BAR0_SIZE, CAP, CC, CQES_LOG2, CSTS, DOORBELL_BASE, Lid,
  MSIX_TABLE_OFFSET, NVME_VERSION_1_4, NvmeRegs, SHN, SHST, SQES_LOG2,
} from './regs.ts';
import { Sc } from './status.ts';

export type NvmePersonality = 'ebs' | 'instance-store';

export interface NvmeControllerOptions {
  /** EBS (0x1D0F:0x8061, "Amazon Elastic Block Store") or instance store (0x1D0F:0xCD00). Default 'ebs'. */
  readonly personality?: NvmePersonality;
  /** Identify SN; for EBS the volume id without its dash, e.g. `vol0123456789abcdef0`. */
  readonly serial?: string;
  readonly model?: string;
  readonly firmware?: string;
  /** Block-device mapping name for the vendor-specific Identify area (e.g. `/dev/sdf`); EBS only by default. */
  readonly blockDeviceName?: string;
  /** Number of I/O queue pairs (1..255). Default 16. MSI-X vectors = this + 1. */
  readonly ioQueues?: number;
  /** CAP.MQES, 0-based maximum I/O queue size (1..65535). Default 1023. */
  readonly mqes?: number;
  /** CAP.DSTRD (0..3). Default 0. */
  readonly dstrd?: number;
  /** Identify MDTS (log2 of 4 KiB pages), 1..8. Default 5 (128 KiB). */
  readonly mdts?: number;
  /** Identify NN: highest NSID. Default 1 for EBS, 8 for instance store. */
  readonly maxNamespaces?: number;
  readonly cntlid?: number;
  /** PCI function number reported in trace events. */
  readonly fn?: number;
}

/** A configuration error from the embedding code (not from the guest): stable code, short message. */
export class NvmeConfigError extends Error {
  constructor(readonly code: 'NVME_BAD_OPTION' | 'NVME_BAD_NSID' | 'NVME_NS_EXISTS' | 'NVME_NO_NS' | 'NVME_BAD_LBA_SIZE', message: string) {
    super(message);
    this.name = 'NvmeConfigError';
  }
}

const PERSONALITY = {
  ebs: { deviceId: 0x8061, model: 'Amazon Elastic Block Store', serial: 'vol00000000000000000', nn: 1 },
  'instance-store': { deviceId: 0xcd00, model: 'Amazon EC2 NVMe Instance Storage', serial: 'AWS00000000000000000', nn: 8 },
} as const;
const AMAZON_VID = 0x1d0f;
const MPSMIN = 0;
const MPSMAX = 4;
/** CAP.TO in 500 ms units. */
const CAP_TO = 20;
const ACL = 3;
const AERL = 3;
const ERROR_LOG_ENTRIES = 64;

interface Reg {
  readonly offset: number;
  readonly name: string;
  /** Write-1-to-set/clear: a sub-dword write is shifted into place, never merged with the current value. */
  readonly w1?: boolean;
  read(): number;
  write(value: number): void;
}

function checkRange(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new NvmeConfigError('NVME_BAD_OPTION', `${name} ${v} outside ${lo}..${hi}`);
  return v;
}

export class NvmeController implements PciDeviceModel {
  readonly identity: PciIdentity;
  readonly bars: readonly BarDecl[];
  readonly msixVectors: number;
  readonly msixBar = 0;
  readonly msixTableOffset = MSIX_TABLE_OFFSET;
  readonly personality: NvmePersonality;
  /** Identify Controller data that is not constant. */
  readonly info: ControllerInfo;
  readonly ioQueueCount: number;
  readonly mqes: number;
  readonly dstrd: number;
  /** Largest data transfer, bytes (MDTS × minimum page size). */
  readonly maxTransfer: number;
  readonly fn: number;

  // Register state.
  cc = 0;
  csts = 0;
  aqa = 0;
  intms = 0;
  asqLo = 0; asqHi = 0; acqLo = 0; acqHi = 0;
  private readonly capLo: number;
  private readonly capHi: number;
  private readonly regTable: (Reg | undefined)[];

  // Controller state (used by engine.ts and commands/; not part of the public API).
  /** Bumped by every controller reset: work fetched under an older generation completes silently. */
  gen = 0;
  readonly prp: { dma: PrpContext['dma']; pageSize: number };
  readonly sqs: (SubmissionQueue | undefined)[] = [];
  readonly cqs: (CompletionQueue | undefined)[] = [];
  readonly namespaces = new Map<number, Namespace>();
  features: FeatureState;
  readonly events = new AsyncEvents();
  readonly errorLog = new ErrorLog(ERROR_LOG_ENTRIES);
  readonly health = new HealthCounters();
  /** Changed Namespace List (log 04h), cleared when read with RAE = 0. */
  readonly changedNs: number[] = [];
  readonly buffers = new BufferPool();
  readonly engine: QueueEngine;
  abortsInProgress = 0;
  private readonly bootNs: bigint;

  constructor(readonly ctx: DeviceContext, opts: NvmeControllerOptions = {}) {
    this.personality = opts.personality ?? 'ebs';
    const p = PERSONALITY[this.personality];
    this.ioQueueCount = checkRange('ioQueues', opts.ioQueues ?? 16, 1, 255);
    this.mqes = checkRange('mqes', opts.mqes ?? 1023, 1, 0xffff);
    this.dstrd = checkRange('dstrd', opts.dstrd ?? 0, 0, 3);
    const mdts = checkRange('mdts', opts.mdts ?? 5, 1, 8);
    const doorbellBytes = 2 * (this.ioQueueCount + 1) * (4 << this.dstrd);
    if (DOORBELL_BASE + doorbellBytes > MSIX_TABLE_OFFSET) {
      throw new NvmeConfigError('NVME_BAD_OPTION', `${this.ioQueueCount} queues with DSTRD ${this.dstrd} overflow the doorbell page`);
    }
    this.maxTransfer = (1 << mdts) * (1 << (12 + MPSMIN));
    this.fn = opts.fn ?? 0;
    this.msixVectors = this.ioQueueCount + 1;
    this.identity = {
      vendorId: AMAZON_VID, deviceId: p.deviceId, subsystemVendorId: AMAZON_VID, subsystemId: p.deviceId,
      revisionId: 0, classCode: 0x010802,
    };
    this.info = {
      vid: AMAZON_VID, ssvid: AMAZON_VID,
      serial: opts.serial ?? p.serial, model: opts.model ?? p.model, firmware: opts.firmware ?? '1.0',
      mdts, cntlid: opts.cntlid ?? 0, version: NVME_VERSION_1_4,
      nn: checkRange('maxNamespaces', opts.maxNamespaces ?? p.nn, 1, 1024),
      maxcmd: this.mqes + 1, acl: ACL, aerl: AERL, elpe: ERROR_LOG_ENTRIES - 1,
      blockDeviceName: opts.blockDeviceName ?? (this.personality === 'ebs' ? '/dev/sdf' : ''),
    };
    this.capLo = (this.mqes & CAP.MQES_MASK) | CAP.CQR | (CAP_TO << CAP.TO_SHIFT);
    this.capHi = (this.dstrd << CAP.DSTRD_SHIFT) | CAP.CSS_NVM | (MPSMIN << CAP.MPSMIN_SHIFT) | (MPSMAX << CAP.MPSMAX_SHIFT);
    this.features = new FeatureState(this.ioQueueCount);
    this.prp = { dma: ctx.dma, pageSize: 4096 };
    this.engine = new QueueEngine(this);
    this.bootNs = ctx.clock.nowNs();
    this.regTable = this.buildRegisterTable();
    const region: BarRegion = { read: (o, s) => this.readBar0(o, s), write: (o, s, v) => this.writeBar0(o, s, v), push: (p) => this.pushDoorbell(p) };
    this.bars = [{ index: 0, size: BAR0_SIZE, is64: true, prefetchable: false, region }];
  }

  // ---- BAR0 -----------------------------------------------------------------------------------------------------

  private buildRegisterTable(): (Reg | undefined)[] {
    const R = NvmeRegs.offset;
    const ro = (): void => {};
    const regs: Reg[] = [
      { offset: R.CAP, name: 'CAP.lo', read: () => this.capLo, write: ro },
      { offset: R.CAP + 4, name: 'CAP.hi', read: () => this.capHi, write: ro },
      { offset: R.VS, name: 'VS', read: () => NVME_VERSION_1_4, write: ro },
      { offset: R.INTMS, name: 'INTMS', w1: true, read: () => this.intms, write: (v) => { this.intms = (this.intms | v) >>> 0; } },
      { offset: R.INTMC, name: 'INTMC', w1: true, read: () => this.intms, write: (v) => { this.intms = (this.intms & ~v) >>> 0; } },
      { offset: R.CC, name: 'CC', read: () => this.cc, write: (v) => this.writeCc(v) },
      { offset: R.CSTS, name: 'CSTS', w1: true, read: () => this.csts, write: ro },
      { offset: R.NSSR, name: 'NSSR', read: () => 0, write: ro }, // CAP.NSSRS = 0
      { offset: R.AQA, name: 'AQA', read: () => this.aqa, write: (v) => { this.aqa = v & AQA.WRITABLE; } },
      { offset: R.ASQ, name: 'ASQ.lo', read: () => this.asqLo, write: (v) => { this.asqLo = (v & ~0xfff) >>> 0; } },
      { offset: R.ASQ + 4, name: 'ASQ.hi', read: () => this.asqHi, write: (v) => { this.asqHi = v >>> 0; } },
      { offset: R.ACQ, name: 'ACQ.lo', read: () => this.acqLo, write: (v) => { this.acqLo = (v & ~0xfff) >>> 0; } },
      { offset: R.ACQ + 4, name: 'ACQ.hi', read: () => this.acqHi, write: (v) => { this.acqHi = v >>> 0; } },
    ];
    const table: (Reg | undefined)[] = new Array(NvmeRegs.size >> 2).fill(undefined);
    for (const r of regs) table[r.offset >> 2] = r;
    return table;
  }

  /** The register at a dword offset, for tests and the panel. */
  registerName(offset: number): string | undefined {
    return this.regTable[offset >> 2]?.name;
  }

  private readBar0(offset: number, size: 1 | 2 | 4): number {
    const reg = offset < NvmeRegs.size ? this.regTable[offset >> 2] : undefined;
    if (reg === undefined) return 0; // reserved, doorbells (read back 0), MSI-X pages (owned by the function model)
    const v = reg.read();
    if (size === 4) return v >>> 0;
    const shift = (offset & 3) * 8;
    return (v >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  private writeBar0(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset >= DOORBELL_BASE && offset < MSIX_TABLE_OFFSET) {
      if (size !== 4 || (offset & 3) !== 0) {
        this.guestError('nvme.doorbell-bad-access', { offset, size });
        return;
      }
      this.writeDoorbell(offset, value >>> 0);
      return;
    }
    const reg = offset < NvmeRegs.size ? this.regTable[offset >> 2] : undefined;
    if (reg === undefined) return; // reserved: ignored
    if (size === 4) { reg.write(value >>> 0); return; }
    const shift = (offset & 3) * 8;
    const mask = (size === 1 ? 0xff : 0xffff) << shift;
    const shifted = ((value << shift) & mask) >>> 0;
    reg.write(reg.w1 === true ? shifted : ((reg.read() & ~mask) | shifted) >>> 0);
  }

  // ---- CC.EN / CSTS.RDY, CC.SHN / CSTS.SHST ---------------------------------------------------------------------

  private writeCc(value: number): void {
    const prev = this.cc;
    const next = value & CC.WRITABLE;
    this.cc = next;
    const wasEn = (prev & CC.EN) !== 0;
    const isEn = (next & CC.EN) !== 0;
    if (!wasEn && isEn) { this.enable(); return; }
    if (wasEn && !isEn) { this.controllerReset(); return; }
    const shn = (next >> CC.SHN_SHIFT) & CC.SHN_MASK;
    const prevShn = (prev >> CC.SHN_SHIFT) & CC.SHN_MASK;
    if (isEn && shn !== SHN.NONE && prevShn === SHN.NONE && this.isReady()) this.shutdown(shn);
  }

  isReady(): boolean {
    return (this.csts & CSTS.RDY) !== 0;
  }

  /** Set CSTS.SHST. */
  private setShst(v: number): void {
    this.csts = ((this.csts & ~(CSTS.SHST_MASK << CSTS.SHST_SHIFT)) | (v << CSTS.SHST_SHIFT)) >>> 0;
  }

  shst(): number {
    return (this.csts >> CSTS.SHST_SHIFT) & CSTS.SHST_MASK;
  }

  /** CC.EN 0 → 1: check the configuration, create the admin queues at ASQ/ACQ, set CSTS.RDY (specs.md §2.4). */
  private enable(): void {
    const cc = this.cc;
    const mps = (cc >> CC.MPS_SHIFT) & CC.MPS_MASK;
    const css = (cc >> CC.CSS_SHIFT) & CC.CSS_MASK;
    const iosqes = (cc >> CC.IOSQES_SHIFT) & CC.IOSQES_MASK;
    const iocqes = (cc >> CC.IOCQES_SHIFT) & CC.IOCQES_MASK;
    const asqs = this.aqa & AQA.ASQS_MASK;
    const acqs = (this.aqa >> AQA.ACQS_SHIFT) & AQA.ACQS_MASK;
    const asq = this.asqHi * 0x1_0000_0000 + this.asqLo;
    const acq = this.acqHi * 0x1_0000_0000 + this.acqLo;
    let reason: string | null = null;
    if (mps < MPSMIN || mps > MPSMAX) reason = `CC.MPS ${mps} outside CAP.MPSMIN..MPSMAX ${MPSMIN}..${MPSMAX}`;
    else if (css !== 0) reason = `CC.CSS ${css} not supported`;
    else if (iosqes !== SQES_LOG2) reason = `CC.IOSQES ${iosqes} != ${SQES_LOG2}`;
    else if (iocqes !== CQES_LOG2) reason = `CC.IOCQES ${iocqes} != ${CQES_LOG2}`;
    else if (asqs === 0 || acqs === 0) reason = `AQA 0x${this.aqa.toString(16)} has a zero queue size`;
    else if (!Number.isSafeInteger(asq) || !Number.isSafeInteger(acq)) reason = 'ASQ/ACQ beyond 2^53';
    if (reason !== null) {
      this.csts = (this.csts | CSTS.CFS) >>> 0;
      this.ctx.log.warn({ event: 'nvme.enable-invalid-config', reason, cc }, 'controller enable failed');
      this.ctx.metrics.inc(Metric.ENABLE_FAILED);
      return;
    }
    this.prp.pageSize = 1 << (12 + mps);
    this.engine.createAdminQueues(asq, asqs + 1, acq, acqs + 1);
    this.csts = CSTS.RDY;
    this.ctx.log.info({ event: 'nvme.enabled', pageSize: this.prp.pageSize, asqs: asqs + 1, acqs: acqs + 1 });
  }

  /** Controller reset (CC.EN 1 → 0): delete all queues, drop outstanding commands and AERs without completions,
   *  restore feature defaults, clear INTMS and CSTS. AQA, ASQ and ACQ keep their values. */
  private controllerReset(): void {
    this.gen++;
    this.engine.dropAll();
    this.events.reset();
    this.features = new FeatureState(this.ioQueueCount);
    this.intms = 0;
    this.csts = 0;
    this.abortsInProgress = 0;
    this.ctx.log.info({ event: 'nvme.controller-reset' });
  }

  /** CC.SHN written: SHST = 01, then (normal shutdown) let commands in flight finish, flush every namespace, and
   *  report SHST = 10. The host must reset the controller before using it again. */
  private shutdown(shn: number): void {
    this.setShst(SHST.OCCURRING);
    const gen = this.gen;
    void (async () => {
      if (shn === SHN.NORMAL) await this.engine.idle();
      for (const ns of this.namespaces.values()) {
        try { await ns.backend.flush(); } catch (e) {
          this.ctx.log.warn({ event: 'nvme.shutdown-flush-failed', nsid: ns.nsid, err: String(e) });
        }
      }
      if (gen === this.gen && this.shst() === SHST.OCCURRING) {
        this.setShst(SHST.COMPLETE);
        this.ctx.log.info({ event: 'nvme.shutdown-complete', abrupt: shn !== SHN.NORMAL });
      }
    })();
  }

  /** PciDeviceModel.reset: FLR or link down. Everything goes back to power-on values; namespaces stay attached. */
  reset(): void {
    if (this.isReady() && this.shst() !== SHST.COMPLETE) this.health.unsafeShutdowns++;
    this.health.powerCycles++;
    this.controllerReset();
    this.cc = 0;
    this.aqa = 0;
    this.asqLo = this.asqHi = this.acqLo = this.acqHi = 0;
    this.changedNs.length = 0;
  }

  /** Bus Master Enable off: DMA would fault anyway; nothing to stop eagerly. */
  busMasterChanged(enabled: boolean): void {
    this.ctx.log.debug({ event: 'nvme.bus-master', enabled });
  }

  /** A fatal controller condition (e.g. the admin SQ cannot be fetched): CSTS.CFS = 1. */
  fatal(event: string, detail: object): void {
    this.csts = (this.csts | CSTS.CFS) >>> 0;
    this.ctx.log.warn({ event, ...detail }, 'controller fatal status');
    this.ctx.metrics.inc(Metric.CONTROLLER_FATAL);
  }

  // ---- Doorbells ------------------------------------------------------------------------------------------------

  private writeDoorbell(offset: number, value: number): void {
    const stride = 4 << this.dstrd;
    const rel = offset - DOORBELL_BASE;
    if (rel % stride !== 0) return; // between doorbells: reserved
    const idx = rel / stride;
    const qid = idx >> 1;
    const isCq = (idx & 1) === 1;
    this.ctx.metrics.inc(Metric.DOORBELLS);
    if (!this.isReady() || this.shst() !== SHST.NORMAL || (this.csts & CSTS.CFS) !== 0) {
      this.guestError('nvme.doorbell-while-not-ready', { qid, isCq, value });
      return;
    }
    if (isCq) this.engine.ringCqDoorbell(qid, value);
    else this.engine.ringSqDoorbell(qid, value);
  }

  /** DOORBELL_PUSH: an SQ tail doorbell with the SQEs it announces (engine.pushSqDoorbell; vendor feature C0h). */
  private pushDoorbell(p: PushedEntries): PushRefusal | null {
    const stride = 4 << this.dstrd;
    const rel = p.offset - DOORBELL_BASE;
    if (rel < 0 || p.offset >= MSIX_TABLE_OFFSET || rel % stride !== 0 || ((rel / stride) & 1) === 1) {
      return { kind: 'malformed', reason: `BAR0 offset 0x${p.offset.toString(16)} is not an SQ tail doorbell` };
    }
    if (!this.isReady() || this.shst() !== SHST.NORMAL || (this.csts & CSTS.CFS) !== 0) return { kind: 'not-enabled', reason: 'controller not ready' };
    this.ctx.metrics.inc(Metric.DOORBELLS);
    return this.engine.pushSqDoorbell(rel / stride / 2, p);
  }

  /** An invalid doorbell write: an Error asynchronous event naming the Error Information log, never a throw. */
  invalidDoorbell(qid: number, isCq: boolean, value: number, info: number): void {
    const what = info === AsyncErrorInfo.INVALID_DOORBELL_REGISTER ? 'nvme.doorbell-invalid-queue' : 'nvme.doorbell-invalid-value';
    this.guestError(what, { qid, isCq, value });
    this.ctx.metrics.inc(Metric.INVALID_DOORBELL);
    this.health.errorCount++;
    this.errorLog.add(this.health.errorCount, qid, 0xffff, Sc.INVALID_FIELD, -1, 0);
    this.postAsyncEvent({ type: AsyncEventType.ERROR, info, lid: Lid.ERROR_INFO });
  }

  guestError(event: string, detail: object): void {
    this.ctx.log.warn({ event, ...detail });
  }

  // ---- Namespaces and asynchronous events -----------------------------------------------------------------------

  /** Attach `backend` as namespace `nsid`. Raises a Namespace Attribute Changed notice when the controller runs. */
  attachNamespace(nsid: number, backend: BlockBackend, lbaSize = 512): Namespace {
    if (!Number.isInteger(nsid) || nsid < 1 || nsid > this.info.nn) {
      throw new NvmeConfigError('NVME_BAD_NSID', `NSID ${nsid} outside 1..${this.info.nn}`);
    }
    if (this.namespaces.has(nsid)) throw new NvmeConfigError('NVME_NS_EXISTS', `NSID ${nsid} already attached`);
    if (lbaSize < 512 || lbaSize > 65536 || (lbaSize & (lbaSize - 1)) !== 0) {
      throw new NvmeConfigError('NVME_BAD_LBA_SIZE', `LBA size ${lbaSize} is not a power of two in 512..65536`);
    }
    if (backend.sizeBytes % lbaSize !== 0) {
      throw new NvmeConfigError('NVME_BAD_LBA_SIZE', `volume size ${backend.sizeBytes} is not a multiple of LBA size ${lbaSize}`);
    }
    const ns = new Namespace(nsid, backend, lbaSize);
    this.namespaces.set(nsid, ns);
    this.namespaceChanged(nsid);
    return ns;
  }

  /** Detach namespace `nsid` (commands already running on it finish). Returns its backend for the caller to close. */
  detachNamespace(nsid: number): BlockBackend {
    const ns = this.namespaces.get(nsid);
    if (ns === undefined) throw new NvmeConfigError('NVME_NO_NS', `NSID ${nsid} is not attached`);
    this.namespaces.delete(nsid);
    this.namespaceChanged(nsid);
    return ns.backend;
  }

  private namespaceChanged(nsid: number): void {
    if (!this.isReady()) return;
    if (!this.changedNs.includes(nsid)) this.changedNs.push(nsid);
    if ((this.features.asyncEventConfig & (1 << 8)) === 0) return;
    this.postAsyncEvent({ type: AsyncEventType.NOTICE, info: AsyncNoticeInfo.NS_ATTRIBUTE_CHANGED, lid: Lid.CHANGED_NS_LIST });
  }

  /** Queue an asynchronous event and complete any AER it can answer. */
  postAsyncEvent(e: AsyncEvent): void {
    if (!this.isReady()) return;
    this.events.post(e);
    this.engine.deliverEvents();
  }

  // ---- Helpers for commands -------------------------------------------------------------------------------------

  /** Whether any I/O queue exists (Set Features Number of Queues must come first). */
  ioQueuesCreated(): boolean {
    for (let i = 1; i < this.sqs.length; i++) if (this.sqs[i] !== undefined) return true;
    for (let i = 1; i < this.cqs.length; i++) if (this.cqs[i] !== undefined) return true;
    return false;
  }

  /** Map the command's PRPs for `len` bytes and copy `src[0, len)` to the host. Returns a status field. */
  async dataToHost(cmd: Command, src: Uint8Array, len: number): Promise<number> {
    const st = await mapPrps(this.prp, cmd, len);
    if (st !== Sc.SUCCESS) return st;
    const r = await copyToHost(this.ctx.dma, cmd, src.subarray(0, len));
    if (r !== Sc.SUCCESS) this.ctx.metrics.inc(Metric.DMA_FAULTS);
    return r;
  }

  /** Map the command's PRPs for `len` bytes and copy them from the host into `dst[0, len)`. */
  async dataFromHost(cmd: Command, dst: Uint8Array, len: number): Promise<number> {
    const st = await mapPrps(this.prp, cmd, len);
    if (st !== Sc.SUCCESS) return st;
    const r = await copyFromHost(this.ctx.dma, cmd, dst.subarray(0, len));
    if (r !== Sc.SUCCESS) this.ctx.metrics.inc(Metric.DMA_FAULTS);
    return r;
  }

  powerOnNs(): bigint {
    return this.ctx.clock.nowNs() - this.bootNs;
  }

  trace(kind: TraceEvent['kind'], detail: string): void {
    this.ctx.trace?.emit({ tNs: this.ctx.clock.nowNs(), fn: this.fn, kind, detail });
  }
}

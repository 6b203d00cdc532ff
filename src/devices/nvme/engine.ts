// The queue engine (NVMe Base 1.4 §4.1, §7.2): on a SQ tail doorbell fetch every new entry in as few DMA reads as
// possible (one per contiguous run), run the commands concurrently, post completions into the CQ mirror, write each
// run of new CQEs with one DMA write, then raise the CQ's MSI-X vector (coalesced per Feature 08h).
// Back-pressure: a SQ is fetched only while its CQ has a free slot for every command already in flight, so a
// completion never finds the CQ full; the fetch resumes when the host rings the CQ head doorbell.
import { DmaFault, type DeviceContext, type PushedEntries, type PushRefusal } from '../contract.ts';
import type { Iova } from '../brand.ts';
import { eventDw0 } from './aer.ts';
import { type Command, CommandPool } from './command.ts';
import { executeAdmin } from './commands/admin.ts';
import { executeIo } from './commands/io.ts';
import { ADMIN_CMD_METRIC, IO_CMD_METRIC, Metric, QueueStats, statusMetric } from './metrics.ts';
import type { NvmeController } from './nvme.ts';
import { CompletionQueue, PushedSlots, SQ_FETCH_BATCH, SubmissionQueue } from './queue.ts';
import { AsyncErrorInfo, Cqe, Sqe } from './regs.ts';
import { Sc, isMediaError } from './status.ts';

export class QueueEngine {
  private readonly ctx: DeviceContext;
  private readonly pool = new CommandPool();
  /** I/O queue statistics (vendor log page C0h); kept across controller resets, like the SMART counters. */
  readonly qstats = new QueueStats();
  /** Commands executing (parked AERs excluded). */
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly c: NvmeController) {
    this.ctx = c.ctx;
  }

  // ---- Queue lifetime -------------------------------------------------------------------------------------------

  createAdminQueues(asq: number, asqSize: number, acq: number, acqSize: number): void {
    const cq = new CompletionQueue(0, acq, acqSize, 0, true);
    const sq = new SubmissionQueue(0, asq, asqSize, cq);
    cq.sqs.add(sq);
    this.c.cqs[0] = cq;
    this.c.sqs[0] = sq;
  }

  createCq(qid: number, base: number, size: number, iv: number, ien: boolean): void {
    this.c.cqs[qid] = new CompletionQueue(qid, base, size, iv, ien);
  }

  createSq(qid: number, base: number, size: number, cq: CompletionQueue): void {
    const sq = new SubmissionQueue(qid, base, size, cq);
    cq.sqs.add(sq);
    this.c.sqs[qid] = sq;
  }

  /** Delete an I/O SQ: stop fetching, let commands in flight finish as "aborted due to SQ deletion". */
  async deleteSq(sq: SubmissionQueue): Promise<void> {
    sq.deleted = true;
    this.c.sqs[sq.id] = undefined;
    for (const cmd of sq.inflight.values()) if (cmd.abortStatus === 0) cmd.abortStatus = Sc.ABORTED_SQ_DELETION;
    if (sq.inflight.size > 0) await new Promise<void>((resolve) => { sq.drained = resolve; });
    sq.cq.sqs.delete(sq);
  }

  deleteCq(cq: CompletionQueue): void {
    cq.deleted = true;
    cq.cancelTimer?.();
    cq.cancelTimer = null;
    this.c.cqs[cq.id] = undefined;
  }

  /** Controller reset: forget every queue; commands still running complete silently (their generation is old). */
  dropAll(): void {
    for (const cq of this.c.cqs) if (cq !== undefined) this.deleteCq(cq);
    for (const sq of this.c.sqs) if (sq !== undefined) sq.deleted = true;
    this.c.sqs.length = 0;
    this.c.cqs.length = 0;
    this.running = 0;
    this.wakeIdle();
  }

  /** Resolves when no command is executing (outstanding AERs do not count). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  // ---- Doorbells ------------------------------------------------------------------------------------------------

  ringSqDoorbell(qid: number, value: number): void {
    const sq = this.c.sqs[qid];
    if (sq === undefined) { this.c.invalidDoorbell(qid, false, value, AsyncErrorInfo.INVALID_DOORBELL_REGISTER); return; }
    if (value >= sq.size) { this.c.invalidDoorbell(qid, false, value, AsyncErrorInfo.INVALID_DOORBELL_VALUE); return; }
    const traced = this.ctx.trace?.sampling() === true;
    if (traced) this.c.trace('doorbell', `SQ${qid} tail=${value}`);
    sq.tail = value;
    if (!sq.fetching) void this.processSq(sq, traced);
  }

  /** An SQ tail doorbell that carries the SQEs it announces (DOORBELL_PUSH; vendor feature C0h on). The entries are
   *  kept by slot and taken by the fetch instead of a DMA read. A push that does not start at the SQ's tail is
   *  stale: its entries are dropped and the doorbell works as a plain one (the fetch reads guest memory). Slots the
   *  push does not cover are fetched by DMA too. A push that cannot be right is refused whole. */
  pushSqDoorbell(qid: number, p: PushedEntries): PushRefusal | null {
    const sq = this.c.sqs[qid];
    if (qid === 0 || sq === undefined || !this.c.features.push) return { kind: 'not-enabled', reason: `SQ${qid} does not take pushed entries` };
    if (p.entrySize !== Sqe.size) return { kind: 'malformed', reason: `pushed entries of ${p.entrySize} bytes, SQEs are ${Sqe.size}` };
    if (p.value >= sq.size || p.start >= sq.size) return { kind: 'malformed', reason: `SQ${qid} tail ${p.value} / start ${p.start} beyond size ${sq.size}` };
    const span = (p.value - p.start + sq.size) % sq.size;
    if (p.count > span) return { kind: 'malformed', reason: `${p.count} entries pushed for slots ${p.start}..${p.value} (${span})` };
    this.qstats.pushFrames++;
    if (p.start !== sq.tail) {
      this.qstats.pushStale++;
      this.ctx.metrics.inc(Metric.PUSH_STALE);
    } else {
      (sq.pushed ??= new PushedSlots(sq.size)).store(p.start, p.count, p.entries);
    }
    this.ringSqDoorbell(qid, p.value);
    return null;
  }

  ringCqDoorbell(qid: number, value: number): void {
    const cq = this.c.cqs[qid];
    if (cq === undefined) { this.c.invalidDoorbell(qid, true, value, AsyncErrorInfo.INVALID_DOORBELL_REGISTER); return; }
    if (!cq.acceptsHead(value)) { this.c.invalidDoorbell(qid, true, value, AsyncErrorInfo.INVALID_DOORBELL_VALUE); return; }
    cq.head = value;
    if (cq.held.length > 0 && cq.drainHeld() > 0) this.scheduleFlush(cq);
    for (const sq of cq.sqs) if (!sq.fetching && sq.pending() > 0) void this.processSq(sq, false);
  }

  // ---- Fetch and run --------------------------------------------------------------------------------------------

  /** Fetch new SQEs (one DMA read per contiguous run, bounded by the CQ's free slots) and start each command. */
  private async processSq(sq: SubmissionQueue, traced: boolean): Promise<void> {
    sq.fetching = true;
    const gen = this.c.gen;
    const cq = sq.cq;
    try {
      for (;;) {
        if (sq.deleted || gen !== this.c.gen) return;
        const n = Math.min(sq.pending(), sq.size - sq.head, SQ_FETCH_BATCH, cq.room());
        if (n <= 0) {
          if (sq.pending() > 0) this.ctx.metrics.inc(Metric.CQ_HELD);
          return;
        }
        const pushed = sq.pushed;
        if (pushed !== null && pushed.valid[sq.head] === 1) { this.takePushed(sq, pushed, n, gen, traced); continue; }
        const run = pushed === null ? n : pushed.missingRun(sq.head, n);
        const addr = sq.base + sq.head * Sqe.size;
        const bytes = run * Sqe.size;
        try {
          await this.ctx.dma.read(addr as Iova, bytes === sq.fetchBuf.byteLength ? sq.fetchBuf : sq.fetchBuf.subarray(0, bytes));
        } catch (e) {
          if (!(e instanceof DmaFault)) throw e;
          this.ctx.metrics.inc(Metric.DMA_FAULTS);
          this.c.fatal('nvme.sq-fetch-fault', { sqid: sq.id, addr, bytes });
          return;
        }
        if (sq.deleted || gen !== this.c.gen) return;
        if (traced) this.c.trace('desc-dma', `SQ${sq.id} fetch ${run} SQE @0x${addr.toString(16)}`);
        this.ctx.metrics.inc(Metric.SQE_FETCHED, run);
        this.ctx.metrics.inc(Metric.SQ_DMA_READS);
        if (sq.id !== 0) { this.qstats.ioSqDmaReads++; this.qstats.ioSqeDmaFetched += run; }
        pushed?.valid.fill(0, sq.head, sq.head + run); // a push over these slots could only come from an overrun ring
        for (let i = 0; i < run; i++) {
          const cmd = this.pool.take();
          cmd.load(sq.fetchView, i * Sqe.size, sq.id, gen);
          cmd.traced = traced;
          sq.head = sq.head + 1 === sq.size ? 0 : sq.head + 1;
          this.start(cmd, sq);
        }
        this.ctx.metrics.observe(Metric.QUEUE_DEPTH, sq.inflight.size);
      }
    } finally {
      sq.fetching = false;
    }
  }

  /** Start the pushed SQEs from the head on (at most `n`): no DMA read. */
  private takePushed(sq: SubmissionQueue, pushed: PushedSlots, n: number, gen: number, traced: boolean): void {
    let k = 0;
    while (k < n && pushed.valid[sq.head] === 1) {
      pushed.valid[sq.head] = 0;
      const cmd = this.pool.take();
      cmd.load(pushed.view, sq.head * Sqe.size, sq.id, gen);
      cmd.traced = traced;
      sq.head = sq.head + 1 === sq.size ? 0 : sq.head + 1;
      this.start(cmd, sq);
      k++;
    }
    if (traced) this.c.trace('desc-dma', `SQ${sq.id} took ${k} pushed SQE`);
    this.qstats.sqePushed += k;
    this.ctx.metrics.inc(Metric.SQE_PUSHED, k);
  }

  private start(cmd: Command, sq: SubmissionQueue): void {
    sq.inflight.set(cmd.cid, cmd);
    sq.cq.outstanding++;
    this.running++;
    cmd.startNs = this.ctx.clock.nowNs();
    this.ctx.metrics.inc(sq.id === 0 ? ADMIN_CMD_METRIC[cmd.opc]! : IO_CMD_METRIC[cmd.opc]!);
    void this.run(cmd, sq);
  }

  private async run(cmd: Command, sq: SubmissionQueue): Promise<void> {
    let parked = false;
    try {
      parked = sq.id === 0 ? await executeAdmin(this.c, cmd) : (await executeIo(this.c, cmd), false);
    } catch (e) {
      // Not a guest error: a bug or an unexpected host failure. Answer the command; keep the emulator up.
      this.ctx.log.error({ event: 'nvme.internal-error', sqid: sq.id, cid: cmd.cid, opc: cmd.opc, err: String(e) });
      cmd.fail(Sc.INTERNAL_ERROR);
    }
    const live = cmd.gen === this.c.gen;
    if (live) {
      this.running--;
      this.c.health.busyNs += Number(this.ctx.clock.nowNs() - cmd.startNs);
      if (this.running === 0) this.wakeIdle();
    }
    if (!parked) this.complete(cmd, sq);
    // An admin command may have unmasked events (Get Log Page) or parked an AER: answer what can be answered now,
    // after the command's own completion.
    if (sq.id === 0 && live) this.deliverEvents();
  }

  /** Post the completion of `cmd` (dropped if a controller reset happened since it was fetched). */
  complete(cmd: Command, sq: SubmissionQueue): void {
    if (cmd.gen !== this.c.gen) { this.pool.give(cmd); return; }
    if (sq.inflight.get(cmd.cid) === cmd) sq.inflight.delete(cmd.cid);
    const cq = sq.cq;
    cq.outstanding--;
    const status = cmd.abortStatus !== 0 ? cmd.abortStatus : cmd.status;
    if (status !== Sc.SUCCESS) this.recordError(cmd, status);
    if (cmd.traced) this.c.trace('completion', `SQ${sq.id} CID${cmd.cid} status=0x${status.toString(16)}`);
    if (!cq.deleted) {
      if (!cq.place(sq.id, sq.head, cmd.cid, status, cmd.dw0)) this.ctx.metrics.inc(Metric.CQ_HELD);
      if (cmd.traced) cq.traced = true;
      this.scheduleFlush(cq);
    }
    if (sq.drained !== null && sq.inflight.size === 0) { sq.drained(); sq.drained = null; }
    this.pool.give(cmd);
  }

  private recordError(cmd: Command, status: number): void {
    this.ctx.metrics.inc(statusMetric(status));
    if (status === Sc.ABORTED_SQ_DELETION || status === Sc.ABORT_REQUESTED) return;
    const h = this.c.health;
    h.errorCount++;
    if (isMediaError(status)) h.mediaErrors++;
    this.c.errorLog.add(h.errorCount, cmd.sqid, cmd.cid, status, cmd.errorLba, cmd.nsid);
  }

  /** Complete waiting Async Event Requests with pending events. */
  deliverEvents(): void {
    const sq0 = this.c.sqs[0];
    if (sq0 === undefined) return;
    for (const [cmd, e] of this.c.events.match()) {
      cmd.dw0 = eventDw0(e);
      this.complete(cmd, sq0);
    }
  }

  // ---- Completion writes and interrupts -------------------------------------------------------------------------

  /** Write the CQ at the end of this event-loop turn: completions that arrive in one turn (a batch of backend
   *  callbacks) go out as one CQE run and one interrupt, not one of each per command (a microtask flushed each
   *  backend completion on its own: ~3 link frames and one MSI-X per command on the file backend). */
  private scheduleFlush(cq: CompletionQueue): void {
    if (cq.flushQueued || cq.flushing) return;
    cq.flushQueued = true;
    setImmediate(() => { cq.flushQueued = false; void this.flushCq(cq); });
  }

  /** Write the unflushed run of the CQ mirror to guest memory (two writes at a wrap), then signal. */
  private async flushCq(cq: CompletionQueue): Promise<void> {
    if (cq.flushing) return;
    cq.flushing = true;
    let written = 0;
    try {
      while (cq.unflushed > 0 && !cq.deleted) {
        const start = cq.flushStart;
        const n = cq.unflushed;
        cq.unflushed = 0;
        const first = Math.min(n, cq.size - start);
        await this.writeCqes(cq, start, first);
        if (first < n) await this.writeCqes(cq, 0, n - first);
        written += n;
      }
    } catch (e) {
      if (!(e instanceof DmaFault)) throw e;
      this.ctx.metrics.inc(Metric.DMA_FAULTS);
      this.c.fatal('nvme.cq-write-fault', { cqid: cq.id, addr: e.addr });
    } finally {
      cq.flushing = false;
    }
    if (written > 0 && !cq.deleted) {
      this.ctx.metrics.inc(Metric.CQE_POSTED, written);
      if (cq.id !== 0) this.qstats.ioCqePosted += written;
      this.signal(cq, written);
    }
  }

  private writeCqes(cq: CompletionQueue, slot: number, n: number): Promise<void> {
    const off = slot * Cqe.size;
    return this.ctx.dma.write((cq.base + off) as Iova, cq.mirror.subarray(off, off + n * Cqe.size));
  }

  /** Raise the CQ's vector now, or count towards the coalescing threshold with an aggregation-time timer. */
  private signal(cq: CompletionQueue, n: number): void {
    if (!cq.ien) return;
    const f = this.c.features;
    if (cq.id === 0 || !f.coalesces(cq.iv)) { this.fire(cq); return; }
    cq.coalesced += n;
    if (cq.coalesced >= f.threshold) { this.fire(cq); return; }
    if (cq.cancelTimer === null) {
      const gen = this.c.gen;
      cq.cancelTimer = this.ctx.clock.setTimer(f.timeMs, () => {
        cq.cancelTimer = null;
        if (gen === this.c.gen && !cq.deleted && cq.coalesced > 0) this.fire(cq);
      });
    }
  }

  private fire(cq: CompletionQueue): void {
    cq.coalesced = 0;
    cq.cancelTimer?.();
    cq.cancelTimer = null;
    if (cq.traced) { this.c.trace('msix', `CQ${cq.id} vector ${cq.iv}`); cq.traced = false; }
    this.ctx.metrics.inc(Metric.INTERRUPTS);
    if (cq.id !== 0) this.qstats.ioInterrupts++;
    this.ctx.irq.raise(cq.iv);
  }
}

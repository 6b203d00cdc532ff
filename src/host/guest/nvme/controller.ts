// One NVMe controller, driven the way Linux's drivers/nvme/host/pci.c drives it (specs.md §2.4, §2.14): disable,
// admin queue, enable, Identify, Number of Queues, I/O queue pairs with their own MSI-X vectors, AERs, namespace scan;
// a watchdog that aborts and then resets on command timeouts; and the CC.SHN shutdown handshake.
import { AdminOpc, CAP, CC, CSTS, Cns, Cqe, DOORBELL_BASE, Fid, NvmeRegs, Sqe } from './regs.ts';
import { NvmeQueue, statusOf, type Inflight, type NvmeCommand, type NvmeCompletion } from './queue.ts';
import { NvmeAbortedError, NvmeInitError, NvmeStatusError } from './errors.ts';
import { abortCommand, createIoCq, createIoSq, deleteIoCq, deleteIoSq, identify, setFeatures, type AdminPort } from './admin.ts';
import { parseIdCtrl, versionText, type IdController } from './identify.ts';
import { handleAsyncEvent, scanNamespaces } from './ns-scan.ts';
import type { NvmeNamespace } from './namespace.ts';
import { PAGE_SIZE, type PageAllocator } from '../page-alloc.ts';
import { bdf, type PciDevice } from '../pci.ts';
import type { DriverInstance, KernelServices } from '../services.ts';

export interface NvmeOptions {
  /** I/O queue pairs to ask for (Set Features Number of Queues). */
  readonly ioQueues: number;
  /** Entries per I/O queue, capped by CAP.MQES + 1. */
  readonly ioQueueDepth: number;
  readonly adminQueueDepth: number;
  readonly adminTimeoutMs: number;
  readonly ioTimeoutMs: number;
  /** How often in-flight commands are checked against their deadlines. */
  readonly watchdogMs: number;
  /** Consecutive failed re-initialisations before the controller is declared dead. */
  readonly maxResets: number;
  /** How long a reset waits for a controller that is gone (CSTS reads all ones: link down, card restarting). */
  readonly removalWaitMs: number;
  /** Lower bound for the shutdown wait (RTD3E raises it). */
  readonly shutdownTimeoutMs: number;
  /** Largest single transfer, whatever MDTS allows. */
  readonly maxTransferBytes: number;
}

/** Linux defaults: admin_timeout 60 s, io_timeout 30 s, 32-entry admin queue, io_queue_depth 1024. */
export const DEFAULT_NVME_OPTIONS: NvmeOptions = {
  ioQueues: 2,
  ioQueueDepth: 1024,
  adminQueueDepth: 32,
  adminTimeoutMs: 60_000,
  ioTimeoutMs: 30_000,
  watchdogMs: 1_000,
  maxResets: 3,
  removalWaitMs: 120_000,
  shutdownTimeoutMs: 5_000,
  maxTransferBytes: 1 << 20,
};

export type ControllerState = 'new' | 'live' | 'resetting' | 'dead' | 'shutdown';

const R = NvmeRegs.offset;

export class NvmeController implements AdminPort, DriverInstance {
  readonly name: string;
  readonly instance: number;
  readonly dev: PciDevice;
  readonly opts: NvmeOptions;
  readonly namespaces = new Map<number, NvmeNamespace>();
  readonly stats = { timeouts: 0, aborts: 0, resets: 0, polledCompletions: 0, badCompletions: 0 };
  state: ControllerState = 'new';
  capLo = 0;
  capHi = 0;
  vs = 0;
  id: IdController | undefined;
  maxTransferBytes = 0;
  private readonly k: KernelServices;
  private stride = 4;
  private readyTimeoutMs = 500;
  private adminQ: NvmeQueue | undefined;
  private ioQs: NvmeQueue[] = [];
  /** Guest vector per MSI-X entry (entry 0 = admin CQ). */
  private vectors: number[] = [];
  private pollMode = false;
  private rr = 0;
  private watchdogRunning = false;
  private resetting: Promise<void> | undefined;

  constructor(k: KernelServices, dev: PciDevice, instance: number, opts: Partial<NvmeOptions> = {}) {
    this.k = k;
    this.dev = dev;
    this.instance = instance;
    this.name = `nvme${instance}`;
    this.opts = { ...DEFAULT_NVME_OPTIONS, ...opts };
  }

  get pages(): PageAllocator { return this.k.pages; }
  get services(): KernelServices { return this.k; }
  get ioQueueCount(): number { return this.ioQs.length; }
  get ioQueueDepth(): number { return this.ioQs[0]?.depth ?? 0; }
  get outstanding(): number { return [this.adminQ, ...this.ioQs].reduce((n, q) => n + (q?.outstanding ?? 0), 0); }

  private log(level: 'err' | 'warn' | 'info', text: string): void {
    this.k.log.log(level, `nvme ${this.name}: ${text}`);
  }

  // ---- registers -------------------------------------------------------------------------------------------------
  private readReg(off: number): Promise<number> { return this.k.platform.mmioRead(this.dev.slot, 0, off, 4); }
  private writeReg(off: number, v: number): void { this.k.platform.mmioWrite(this.dev.slot, 0, off, 4, v >>> 0); }
  private writeReg64(off: number, v: number): void {
    this.writeReg(off, v % 0x1_0000_0000);
    this.writeReg(off + 4, Math.floor(v / 0x1_0000_0000));
  }
  private ring = (off: number, v: number): void => { this.writeReg(off, v); };
  private pushSqe = (off: number, v: number, start: number, entries: Uint8Array): void => {
    this.k.platform.mmioPush?.(this.dev.slot, 0, off, v >>> 0, start, Sqe.size, entries);
  };
  /** Submission Push asked for by the user (`nvme set-feature DEV push on`); re-applied after a reset. */
  private pushWanted = false;

  /** Turn Submission Push (vendor feature C0h) on or off: the I/O queues then push each new SQE with its doorbell
   *  (DOORBELL_PUSH). Throws where the platform cannot push, or if the controller refuses the feature. */
  async setSubmissionPush(on: boolean): Promise<void> {
    if (on && this.k.platform.mmioPush === undefined) throw new Error('this platform has no pushed doorbell (DOORBELL_PUSH)');
    await setFeatures(this, Fid.SUBMISSION_PUSH, on ? 1 : 0);
    this.pushWanted = on;
    for (const q of this.ioQs) q.push = on;
  }

  // ---- probe -----------------------------------------------------------------------------------------------------
  /** Bring the controller up and register its namespaces; on failure it is left dead with resources freed. */
  async probe(): Promise<void> {
    this.log('info', `pci function ${bdf(this.dev.slot)}`);
    try {
      this.setupVectors();
      if (this.dev.msix) await this.k.pci.enableMsix(this.dev, this.vectors);
      await this.enable();
      await this.initAfterEnable(false);
      this.state = 'live';
    } catch (err) {
      this.log('err', `probe failed: ${err instanceof Error ? err.message : String(err)}`);
      this.markDead();
      throw err;
    }
  }

  private setupVectors(): void {
    const msix = this.dev.msix;
    if (!msix) {
      this.pollMode = true;
      this.log('warn', 'no MSI-X capability, completions will be polled');
      return;
    }
    const n = Math.max(1, Math.min(msix.tableSize, 1 + this.opts.ioQueues));
    this.vectors = this.k.irqs.allocate(n, this.name);
    this.vectors.forEach((v, entry) => this.k.irqs.setHandler(v, () => this.onInterrupt(entry)));
  }

  /** MSI-X entry that I/O queue `qid` (1-based) interrupts on: its own if there are enough, else shared. */
  private entryFor(qid: number): number {
    const n = this.vectors.length;
    return n <= 1 ? 0 : 1 + ((qid - 1) % (n - 1));
  }

  private onInterrupt(entry: number): void {
    if (entry === 0 && this.adminQ) this.adminQ.processCompletions();
    for (const q of this.ioQs) if (this.entryFor(q.qid) === entry) q.processCompletions();
  }

  /** CAP/VS, disable, admin queue registers, CC, EN = 1, wait for CSTS.RDY (specs.md §2.4 Enable). */
  private async enable(): Promise<void> {
    const csts = await this.readReg(R.CSTS);
    if (csts === 0xffff_ffff) throw new NvmeInitError('device not present (CSTS reads 0xffffffff)');
    this.capLo = await this.readReg(R.CAP);
    this.capHi = await this.readReg(R.CAP + 4);
    this.vs = await this.readReg(R.VS);
    this.stride = 4 << CAP.dstrd(this.capHi);
    this.readyTimeoutMs = Math.max(1, CAP.to(this.capLo)) * 500;
    if (CAP.mpsmin(this.capHi) > 0) throw new NvmeInitError(`minimum page size ${4096 << CAP.mpsmin(this.capHi)} exceeds host page size 4096`);
    if ((CAP.css(this.capHi) & 1) === 0) throw new NvmeInitError('controller does not support the NVM command set');
    await this.disable();
    const depth = this.opts.adminQueueDepth;
    this.adminQ ??= this.makeQueue(0, depth);
    this.adminQ.resetRings();
    this.writeReg(R.AQA, ((depth - 1) << 16) | (depth - 1));
    this.writeReg64(R.ASQ, this.adminQ.sq.gpa);
    this.writeReg64(R.ACQ, this.adminQ.cq.gpa);
    const cc = CC.CSS_NVM | (0 << CC.MPS_SHIFT) | CC.AMS_RR | CC.IOSQES | CC.IOCQES;
    this.writeReg(R.CC, cc);
    this.writeReg(R.CC, cc | CC.EN);
    await this.waitReady(true);
  }

  /** CC.EN = 0 and wait for CSTS.RDY = 0 (also when EN was already 0 but RDY still 1). */
  private async disable(): Promise<void> {
    const cc = await this.readReg(R.CC);
    if (cc & CC.EN) this.writeReg(R.CC, cc & ~(CC.EN | CC.SHN_MASK));
    await this.waitReady(false);
  }

  private async waitReady(want: boolean): Promise<void> {
    const p = this.k.platform;
    const deadline = p.nowNs() + BigInt(this.readyTimeoutMs) * 1_000_000n;
    for (;;) {
      const csts = await this.readReg(R.CSTS);
      if (csts === 0xffff_ffff) throw new NvmeInitError('device gone (CSTS reads 0xffffffff)');
      if (want && (csts & CSTS.CFS)) throw new NvmeInitError(`controller fatal status while enabling, CSTS=0x${csts.toString(16)}`);
      if (((csts & CSTS.RDY) !== 0) === want) return;
      if (p.nowNs() > deadline) {
        throw new NvmeInitError(`device not ready; aborting ${want ? 'initialisation' : 'reset'}, CSTS=0x${csts.toString(16)}`);
      }
      await p.sleep(1);
    }
  }

  private makeQueue(qid: number, depth: number): NvmeQueue {
    const sqPages = Math.ceil((depth * Sqe.size) / PAGE_SIZE);
    const cqPages = Math.ceil((depth * Cqe.size) / PAGE_SIZE);
    const sq = this.k.pages.alloc(sqPages);
    const cq = this.k.pages.alloc(cqPages);
    return new NvmeQueue({
      qid, depth, sq, cq, ring: this.ring, push: this.pushSqe,
      sqDoorbell: DOORBELL_BASE + 2 * qid * this.stride,
      cqDoorbell: DOORBELL_BASE + (2 * qid + 1) * this.stride,
      vector: this.vectors[qid === 0 ? 0 : this.entryFor(qid)] ?? -1,
      now: () => this.k.platform.nowNs(),
      warn: (t) => { this.stats.badCompletions++; this.log('warn', t); },
      onSubmit: () => this.kick(),
    });
  }

  private freeQueue(q: NvmeQueue): void {
    this.k.pages.release(q.sq);
    this.k.pages.release(q.cq);
  }

  /** Identify, queue count, I/O queues, AERs and the namespace scan (steps 4–7 of specs.md §2.14). */
  private async initAfterEnable(isReset: boolean): Promise<void> {
    const id = parseIdCtrl(await identify(this, Cns.CONTROLLER));
    this.id = id;
    if (!isReset) {
      this.log('info', `${id.mn} sn ${id.sn} fw ${id.fr} (NVMe ${versionText(this.vs)}), ${id.nn} namespace(s)`);
    }
    if ((id.sqes & 0xf) > 6 || (id.sqes >>> 4) < 6 || (id.cqes & 0xf) > 4 || (id.cqes >>> 4) < 4) {
      this.log('warn', `unexpected SQES 0x${id.sqes.toString(16)} / CQES 0x${id.cqes.toString(16)}`);
    }
    const mdtsBytes = id.mdts === 0 ? Infinity : 2 ** id.mdts * PAGE_SIZE;
    this.maxTransferBytes = Math.min(mdtsBytes, this.opts.maxTransferBytes);

    const wanted = Math.max(1, this.opts.ioQueues);
    let granted = 0;
    try {
      const dw0 = await setFeatures(this, Fid.NUM_QUEUES, (((wanted - 1) << 16) | (wanted - 1)) >>> 0);
      granted = Math.min(wanted, (dw0 & 0xffff) + 1, (dw0 >>> 16) + 1);
    } catch (err) {
      if (!(err instanceof NvmeStatusError)) throw err;
      this.log('err', `Could not set queue count (${err.message})`);
    }
    const depth = Math.max(2, Math.min(this.opts.ioQueueDepth, CAP.mqes(this.capLo) + 1));
    const created: NvmeQueue[] = [];
    for (let qid = 1; qid <= granted; qid++) {
      const q = this.ioQs[qid - 1] ?? this.makeQueue(qid, depth);
      q.resetRings();
      try {
        await createIoCq(this, qid, q.depth, q.cq.gpa, this.entryFor(qid));
        await createIoSq(this, qid, q.depth, q.sq.gpa, qid);
        created.push(q);
      } catch (err) {
        if (!(err instanceof NvmeStatusError)) throw err;
        this.log('err', `could not create I/O queue ${qid}: ${err.message}`);
        if (!this.ioQs.includes(q)) this.freeQueue(q);
        break;
      }
    }
    for (const q of this.ioQs) if (!created.includes(q)) this.freeQueue(q);
    this.ioQs = created;
    this.log('info', `${created.length}/0/0 default/read/poll queues`);

    if (id.oaes & (1 << 8)) {
      await setFeatures(this, Fid.ASYNC_EVENT_CONFIG, 1 << 8).catch((err: unknown) => {
        if (!(err instanceof NvmeStatusError)) throw err;
        this.log('warn', `could not configure async events: ${err.message}`);
      });
    }
    if (!this.pollMode) this.submitAer();
    await scanNamespaces(this);
  }

  // ---- commands --------------------------------------------------------------------------------------------------
  /** Submit an admin command; rejects with NvmeStatusError on an error status. */
  async admin(cmd: NvmeCommand, timeoutMs = this.opts.adminTimeoutMs): Promise<NvmeCompletion> {
    const q = this.adminQ;
    if (!q || this.state === 'dead') throw new NvmeAbortedError('dead', `${this.name} admin opcode 0x${cmd.opc.toString(16)}`);
    const c = await q.submit(cmd, timeoutMs);
    if (c.status !== 0) {
      const s = statusOf(c);
      throw new NvmeStatusError(0, cmd.opc, s.sct, s.sc, s.dnr);
    }
    return c;
  }

  /** Submit an I/O command on the next I/O queue (round robin); resolves with the completion whatever its status. */
  async io(cmd: NvmeCommand): Promise<NvmeCompletion> {
    while (this.resetting) await this.resetting; // requeued commands wait here for the (possibly repeated) reset
    if (this.state !== 'live') throw new NvmeAbortedError(this.state === 'shutdown' ? 'shutdown' : 'dead', `${this.name} I/O`);
    const q = this.ioQs[this.rr++ % Math.max(1, this.ioQs.length)];
    if (!q) throw new NvmeAbortedError('dead', `${this.name} has no I/O queues`);
    return q.submit(cmd, this.opts.ioTimeoutMs);
  }

  private submitAer(): void {
    const q = this.adminQ;
    if (!q) return;
    q.submit({ opc: AdminOpc.ASYNC_EVENT }, 0).then(
      (c) => handleAsyncEvent(this, c).then((again) => { if (again && this.state === 'live') this.submitAer(); }),
      () => { /* cancelled by a reset or shutdown: re-submitted after re-initialisation */ },
    ).catch((err: unknown) => this.log('err', `async event handling failed: ${String(err)}`));
  }

  // ---- timeouts, reset -------------------------------------------------------------------------------------------
  private kick(): void {
    if (this.watchdogRunning) return;
    this.watchdogRunning = true;
    void this.watchdog().finally(() => { this.watchdogRunning = false; });
  }

  private queues(): NvmeQueue[] {
    return this.adminQ ? [this.adminQ, ...this.ioQs] : [...this.ioQs];
  }

  private async watchdog(): Promise<void> {
    const p = this.k.platform;
    while (this.queues().some((q) => q.timedOutstanding > 0)) {
      await p.sleep(this.pollMode ? 1 : this.opts.watchdogMs);
      if (this.pollMode) for (const q of this.queues()) q.processCompletions();
      try {
        await this.checkTimeouts();
      } catch (err) {
        this.log('err', `timeout handling failed: ${String(err)}`);
      }
    }
  }

  private async checkTimeouts(): Promise<void> {
    const now = this.k.platform.nowNs();
    if (!this.queues().some((q) => q.expired(now).length > 0)) return;
    // A lost interrupt looks like a timeout: reap the CQs first, as Linux's nvme_timeout does.
    for (const q of this.queues()) {
      const n = q.processCompletions();
      if (n > 0) {
        this.stats.polledCompletions += n;
        this.log('warn', `queue ${q.qid}: ${n} completion(s) polled (interrupt missed)`);
      }
    }
    for (const q of this.queues()) {
      for (const rec of q.expired(now)) {
        if (this.state !== 'live') {
          this.stats.timeouts++;
          q.cancel(rec, new NvmeAbortedError('timeout', `${this.name} QID ${q.qid} opcode 0x${rec.opc.toString(16)}`));
          continue;
        }
        if (await this.timeoutOne(q, rec, now)) return;
      }
    }
  }

  /** Handle one expired command of a live controller; true if it started a reset. */
  private async timeoutOne(q: NvmeQueue, rec: Inflight, now: bigint): Promise<boolean> {
    this.stats.timeouts++;
    const what = `I/O tag ${rec.tag} (${rec.cid.toString(16).padStart(4, '0')}) opcode 0x${rec.opc.toString(16)} QID ${q.qid}`;
    const csts = await this.readReg(R.CSTS);
    if (csts === 0xffff_ffff || (csts & CSTS.CFS)) {
      this.log('warn', `controller is down (CSTS=0x${csts.toString(16)}); will reset`);
      void this.reset('controller fatal status');
      return true;
    }
    if (q.qid === 0 || rec.abortSent) {
      this.log('warn', `${what} timeout, reset controller`);
      // The command that timed out fails (I/O error); the others in flight are cancelled by the reset and requeued.
      q.cancel(rec, new NvmeAbortedError('timeout', `${this.name} QID ${q.qid} opcode 0x${rec.opc.toString(16)}`));
      void this.reset(`${what} timeout`);
      return true;
    }
    rec.abortSent = true;
    rec.deadlineNs = now + BigInt(this.opts.ioTimeoutMs) * 1_000_000n;
    this.stats.aborts++;
    this.log('warn', `${what} timeout, aborting`);
    abortCommand(this, q.qid, rec.cid).then(
      (ok) => this.log('info', `abort of ${what} ${ok ? 'succeeded' : 'was not performed'}`),
      (err: unknown) => this.log('warn', `abort of ${what} failed: ${err instanceof Error ? err.message : String(err)}`),
    );
    return false;
  }

  /** The link to the device went down (surprise removal: the card died) or came back. Down: whatever is in flight
   *  will never complete, so it is cancelled now — the block layer requeues it — and the controller is reset, which
   *  waits for the device to come back (waitPresent), re-enables it and re-creates the queues. */
  linkChanged(up: boolean): void {
    if (up) { this.log('info', 'link up'); return; }
    // Only a function that is really gone is reset (one the hypervisor emulates, legacy mode, is not on that link).
    void this.readReg(R.CSTS).then((csts) => {
      if (csts !== 0xffff_ffff) return;
      this.log('warn', 'link down (surprise removal); in-flight commands will be requeued after the reset');
      if (this.resetting) this.cancelAll('reset'); // a re-initialisation in progress fails fast and waits again
      else void this.reset('link down');
    }, () => {});
  }

  /** Wait while the device is gone (CSTS and its config space read all ones); once it is back, restore its PCI
   *  config (BARs, decoding, MSI-X: it returns as a new function in reset state). True if it had gone. */
  private async waitPresent(): Promise<boolean> {
    const p = this.k.platform;
    if (await this.readReg(R.CSTS) !== 0xffff_ffff) return false;
    this.log('warn', `controller is gone (CSTS reads 0xffffffff); waiting up to ${this.opts.removalWaitMs} ms for it to come back`);
    const deadline = p.nowNs() + BigInt(this.opts.removalWaitMs) * 1_000_000n;
    for (let delay = 20; !(await this.k.pci.isPresent(this.dev)); delay = Math.min(delay * 2, 200)) {
      if (p.nowNs() > deadline) throw new NvmeInitError(`device did not come back within ${this.opts.removalWaitMs} ms`);
      await p.sleep(delay);
    }
    await this.k.pci.restoreState(this.dev);
    this.log('info', 'controller is back');
    return true;
  }

  /** Controller reset: cancel everything in flight, disable, re-enable, re-create queues, rescan. */
  reset(reason: string): Promise<void> {
    if (this.resetting) return this.resetting;
    if (this.state === 'dead' || this.state === 'shutdown' || this.state === 'new') return Promise.resolve();
    this.resetting = this.doReset(reason).finally(() => { this.resetting = undefined; });
    return this.resetting;
  }

  private async doReset(reason: string): Promise<void> {
    this.state = 'resetting';
    this.stats.resets++;
    this.log('warn', `resetting controller: ${reason}`);
    for (let attempt = 1; ; attempt++) {
      this.cancelAll('reset');
      try {
        await this.waitPresent();
        await this.enable();
        await this.initAfterEnable(true);
        if (this.pushWanted) await this.setSubmissionPush(true);
        this.state = 'live';
        this.log('info', 'controller reset complete');
        return;
      } catch (err) {
        this.log('err', `reset attempt ${attempt} failed: ${err instanceof Error ? err.message : String(err)}`);
        // The device went away again during the attempt (the card died once more): wait for it; not a failed attempt.
        if (!(err instanceof NvmeInitError && /did not come back/u.test(err.message)) && await this.readReg(R.CSTS) === 0xffff_ffff) { attempt--; continue; }
        if (attempt >= this.opts.maxResets) {
          this.markDead();
          return;
        }
      }
    }
  }

  private cancelAll(reason: 'reset' | 'shutdown' | 'dead'): void {
    for (const q of this.queues()) {
      q.cancelAll(() => new NvmeAbortedError(reason, `${this.name} QID ${q.qid}`));
      q.wakeAll();
    }
  }

  /** Give up on the controller: fail everything, drop its block devices, free its memory and vectors. */
  private markDead(): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.cancelAll('dead');
    for (const [nsid, ns] of this.namespaces) {
      ns.markRemoved();
      this.k.blocks.remove(ns.name);
      this.namespaces.delete(nsid);
    }
    for (const q of this.queues()) this.freeQueue(q);
    this.adminQ = undefined;
    this.ioQs = [];
    this.k.irqs.free(this.vectors);
    this.log('err', 'removing controller (dead)');
  }

  // ---- shutdown --------------------------------------------------------------------------------------------------
  /** Delete I/O queues, CC.SHN = normal, wait for CSTS.SHST = complete (specs.md §2.4 Shutdown). Never throws. */
  async shutdown(): Promise<void> {
    if (this.resetting) await this.resetting;
    if (this.state !== 'live') return;
    this.state = 'shutdown';
    const quick = Math.min(this.opts.adminTimeoutMs, 5_000);
    try {
      for (const q of [...this.ioQs].reverse()) await deleteIoSq(this, q.qid, quick).catch((e: unknown) => this.log('warn', `delete SQ ${q.qid}: ${String(e)}`));
      for (const q of [...this.ioQs].reverse()) await deleteIoCq(this, q.qid, quick).catch((e: unknown) => this.log('warn', `delete CQ ${q.qid}: ${String(e)}`));
      this.cancelAll('shutdown');
      const cc = await this.readReg(R.CC);
      this.writeReg(R.CC, (cc & ~CC.SHN_MASK) | CC.SHN_NORMAL);
      const p = this.k.platform;
      const limitMs = Math.max(this.opts.shutdownTimeoutMs, Math.ceil((this.id?.rtd3e ?? 0) / 1000));
      const deadline = p.nowNs() + BigInt(limitMs) * 1_000_000n;
      for (;;) {
        const csts = await this.readReg(R.CSTS);
        if ((csts & CSTS.SHST_MASK) === CSTS.SHST_CMPLT) {
          this.log('info', 'shutdown complete');
          return;
        }
        if (csts === 0xffff_ffff || p.nowNs() > deadline) {
          this.log('warn', `Device shutdown incomplete, CSTS=0x${csts.toString(16)}`);
          return;
        }
        await p.sleep(1);
      }
    } catch (err) {
      this.log('err', `shutdown failed: ${String(err)}`);
    }
  }
}

// FakeNvme: a stand-in NVMe PCI function for guest driver tests (NOT the project's device model, which lives in
// src/devices/nvme). Just enough of specs.md §1 and §2 to boot the guest driver, with knobs to misbehave on purpose.
import type { TestPciFunction, TestPlatform } from './test-platform.ts';

const BAR0_SIZE = 0x4000;
const MSIX_TABLE = 0x2000;
const MSIX_PBA = 0x3000;

export interface FakeNamespace { lbaSize: number; data: Uint8Array }

export interface FakeNvmeOptions {
  vendorId?: number;
  deviceId?: number;
  model?: string;
  serial?: string;
  msixVectors?: number;
  withMsix?: boolean;
  mqes?: number;
  mdts?: number;
  maxQueues?: number;
  vwc?: boolean;
  oncs?: number;
  /** Namespaces: nsid → blocks of 512 B (or lbaSize). */
  namespaces?: Record<number, { blocks: number; lbaSize?: number }>;
}

interface Sq { base: number; size: number; head: number; tail: number; cqid: number }
interface Cq { base: number; size: number; head: number; tail: number; phase: number; iv: number; ien: boolean; backlog: Cqe[] }
interface Cqe { dw0: number; sqhd: number; sqid: number; cid: number; status: number }

export class FakeNvme implements TestPciFunction {
  readonly cfg = new Uint8Array(256);
  private readonly wmask = new Uint8Array(256);
  readonly regs = new DataView(new ArrayBuffer(BAR0_SIZE));
  readonly namespaces = new Map<number, FakeNamespace>();
  readonly opts: Required<Omit<FakeNvmeOptions, 'namespaces'>>;
  private sqs = new Map<number, Sq>();
  private cqs = new Map<number, Cq>();
  private aers: { cid: number }[] = [];
  private pendingEvents: number[] = [];
  private held = new Map<string, { sqid: number; cid: number }>();
  private scheduled = false;
  // ---- knobs and counters for tests ----
  /** `${sqid}:${opcode}` of commands to fetch and never complete (until aborted, unless ignoreAbort). */
  readonly drop = new Set<string>();
  ignoreAbort = false;
  neverReady = false;
  noInterrupts = false;
  /** Post one CQE with this bogus CID before the next real one. */
  bogusCid: number | undefined;
  readonly opcodes: string[] = [];
  enables = 0;
  shutdowns = 0;

  constructor(private readonly host: TestPlatform, o: FakeNvmeOptions = {}) {
    this.opts = {
      vendorId: o.vendorId ?? 0x1d0f, deviceId: o.deviceId ?? 0x8061,
      model: o.model ?? 'Amazon Elastic Block Store', serial: o.serial ?? 'vol0123456789abcdef0',
      msixVectors: o.msixVectors ?? 4, withMsix: o.withMsix ?? true, mqes: o.mqes ?? 1023, mdts: o.mdts ?? 5,
      maxQueues: o.maxQueues ?? 8, vwc: o.vwc ?? true, oncs: o.oncs ?? 0x0c,
    };
    for (const [nsid, ns] of Object.entries(o.namespaces ?? { 1: { blocks: 8192 } })) {
      this.addNamespace(Number(nsid), ns.blocks, ns.lbaSize ?? 512);
    }
    this.buildConfig();
    this.resetRegs();
  }

  // ---- config space with a writable mask per byte (as QEMU does) ---------------------------------------------------
  private set(off: number, size: number, v: number, wmask = 0): void {
    for (let i = 0; i < size; i++) {
      this.cfg[off + i] = (v >>> (8 * i)) & 0xff;
      this.wmask[off + i] = (wmask >>> (8 * i)) & 0xff;
    }
  }
  private buildConfig(): void {
    const o = this.opts;
    this.set(0x00, 2, o.vendorId); this.set(0x02, 2, o.deviceId);
    this.set(0x04, 2, 0, 0x0547); this.set(0x06, 2, 0x0010);
    this.set(0x08, 4, 0x010802 << 8 | 0x01);
    this.set(0x10, 4, 0x4, ~(BAR0_SIZE - 1) & ~0xf); this.set(0x14, 4, 0, 0xffff_ffff);
    this.set(0x2c, 2, o.vendorId); this.set(0x2e, 2, o.deviceId);
    this.set(0x34, 1, 0x40); this.set(0x3d, 1, 1);
    this.set(0x40, 2, 0x5001); this.set(0x42, 2, 0x0003);
    this.set(0x50, 2, o.withMsix ? 0x7010 : 0x0010); this.set(0x52, 2, 0x0002);
    if (o.withMsix) {
      this.set(0x70, 2, 0x0011); this.set(0x72, 2, o.msixVectors - 1, 0xc000);
      this.set(0x74, 4, MSIX_TABLE); this.set(0x78, 4, MSIX_PBA);
    }
  }
  configRead(off: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= (this.cfg[off + i] ?? 0) << (8 * i);
    return v >>> 0;
  }
  configWrite(off: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) {
      const m = this.wmask[off + i] ?? 0;
      this.cfg[off + i] = ((this.cfg[off + i] ?? 0) & ~m) | ((value >>> (8 * i)) & m);
    }
  }
  get command(): number { return this.configRead(0x04, 2); }
  get msixControl(): number { return this.configRead(0x72, 2); }

  // ---- BAR0 -------------------------------------------------------------------------------------------------------
  private resetRegs(): void {
    const r = this.regs;
    r.setUint32(0x00, (this.opts.mqes & 0xffff) | (1 << 16) | (2 << 24), true); // MQES, CQR, TO = 1 s
    r.setUint32(0x04, 1 << 5, true); // CSS: NVM
    r.setUint32(0x08, 0x0001_0400, true);
    for (let i = 0; i < this.opts.msixVectors; i++) r.setUint32(MSIX_TABLE + 16 * i + 12, 1, true);
  }
  barRead(bar: number, off: number, size: 1 | 2 | 4): number {
    if (bar !== 0 || off + size > BAR0_SIZE || off >= 0x1000 && off < MSIX_TABLE) return 0;
    return size === 4 ? this.regs.getUint32(off, true) : size === 2 ? this.regs.getUint16(off, true) : this.regs.getUint8(off);
  }
  barWrite(bar: number, off: number, size: 1 | 2 | 4, value: number): void {
    if (bar !== 0 || size !== 4 || off + 4 > BAR0_SIZE) return;
    if (off >= 0x1000 && off < MSIX_TABLE) return this.doorbell((off - 0x1000) / 4, value);
    if (off >= MSIX_TABLE) {
      this.regs.setUint32(off, value, true);
      return;
    }
    if (off === 0x14) return this.writeCc(value);
    if (off === 0x24 || off === 0x28 || off === 0x2c || off === 0x30 || off === 0x34) this.regs.setUint32(off, value, true);
  }
  private get csts(): number { return this.regs.getUint32(0x1c, true); }
  private set csts(v: number) { this.regs.setUint32(0x1c, v, true); }

  private writeCc(v: number): void {
    const old = this.regs.getUint32(0x14, true);
    this.regs.setUint32(0x14, v, true);
    if ((v & 1) && !(old & 1)) {
      this.enables++;
      const aqa = this.regs.getUint32(0x24, true);
      this.sqs.set(0, { base: this.regs.getUint32(0x28, true), size: (aqa & 0xfff) + 1, head: 0, tail: 0, cqid: 0 });
      this.cqs.set(0, { base: this.regs.getUint32(0x30, true), size: ((aqa >>> 16) & 0xfff) + 1, head: 0, tail: 0, phase: 1, iv: 0, ien: true, backlog: [] });
      if (!this.neverReady) this.csts = 1;
    } else if (!(v & 1) && (old & 1)) {
      this.sqs.clear(); this.cqs.clear(); this.aers = []; this.held.clear();
      this.csts = 0;
    }
    if ((v >>> 14) & 3) {
      this.shutdowns++;
      this.csts = (this.csts & ~0xc) | 0x8;
    }
  }

  private doorbell(index: number, value: number): void {
    const qid = index >>> 1;
    if (index & 1) {
      const cq = this.cqs.get(qid);
      if (cq) cq.head = value % cq.size;
    } else {
      const sq = this.sqs.get(qid);
      if (sq) sq.tail = value % sq.size;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.process();
    });
  }

  // ---- queues -----------------------------------------------------------------------------------------------------
  private get mem(): DataView { return new DataView(this.host.mem.buffer); }

  private process(): void {
    this.host.touch();
    for (const cq of this.cqs.values()) this.flushBacklog(cq);
    for (const [sqid, sq] of [...this.sqs]) {
      while (sq.head !== sq.tail && this.sqs.get(sqid) === sq) {
        const a = sq.base + sq.head * 64;
        sq.head = (sq.head + 1) % sq.size;
        const m = this.mem;
        const cmd = {
          opc: m.getUint8(a), cid: m.getUint16(a + 2, true), nsid: m.getUint32(a + 4, true),
          prp1: m.getUint32(a + 24, true) + m.getUint32(a + 28, true) * 2 ** 32,
          prp2: m.getUint32(a + 32, true) + m.getUint32(a + 36, true) * 2 ** 32,
          cdw10: m.getUint32(a + 40, true), cdw11: m.getUint32(a + 44, true), cdw12: m.getUint32(a + 48, true),
        };
        this.opcodes.push(`${sqid}:${cmd.opc}`);
        if (this.drop.has(`${sqid}:${cmd.opc}`)) {
          this.held.set(`${sqid}:${cmd.cid}`, { sqid, cid: cmd.cid });
          continue;
        }
        const r = sqid === 0 ? this.admin(cmd) : this.io(cmd);
        if (r) this.post(sq.cqid, { dw0: r.dw0 ?? 0, sqhd: sq.head, sqid, cid: cmd.cid, status: r.status ?? 0 });
      }
    }
  }

  /** Status halfword without P: SC | SCT << 8 | DNR << 14. */
  private static st(sct: number, sc: number, dnr = true): number { return sc | (sct << 8) | (dnr ? 1 << 14 : 0); }

  private post(cqid: number, e: Cqe): void {
    const cq = this.cqs.get(cqid);
    if (!cq) return;
    if (this.bogusCid !== undefined) {
      const bogus = { ...e, cid: this.bogusCid };
      this.bogusCid = undefined;
      cq.backlog.push(bogus);
    }
    cq.backlog.push(e);
    this.flushBacklog(cq);
  }

  private flushBacklog(cq: Cq): void {
    let posted = false;
    while (cq.backlog.length > 0 && (cq.tail + 1) % cq.size !== cq.head) {
      const e = cq.backlog.shift() as Cqe;
      const a = cq.base + cq.tail * 16;
      const m = this.mem;
      m.setUint32(a, e.dw0, true); m.setUint32(a + 4, 0, true);
      m.setUint16(a + 8, e.sqhd, true); m.setUint16(a + 10, e.sqid, true); m.setUint16(a + 12, e.cid, true);
      m.setUint16(a + 14, ((e.status << 1) | cq.phase) & 0xffff, true);
      cq.tail = (cq.tail + 1) % cq.size;
      if (cq.tail === 0) cq.phase ^= 1;
      posted = true;
    }
    if (posted && cq.ien) this.interrupt(cq.iv);
  }

  private interrupt(entry: number): void {
    if (this.noInterrupts || !this.opts.withMsix) return;
    const ctrl = this.msixControl;
    if (!(ctrl & 0x8000) || (ctrl & 0x4000) || !(this.command & 0x4)) return;
    const e = MSIX_TABLE + 16 * entry;
    if (this.regs.getUint32(e + 12, true) & 1) return;
    this.host.deliverMsi(this.regs.getUint32(e, true), this.regs.getUint32(e + 8, true));
  }

  // ---- admin ------------------------------------------------------------------------------------------------------
  private admin(c: { opc: number; cid: number; nsid: number; prp1: number; prp2: number; cdw10: number; cdw11: number; cdw12: number }): { dw0?: number; status?: number } | undefined {
    const st = FakeNvme.st;
    switch (c.opc) {
      case 0x06: return this.identify(c.cdw10 & 0xff, c.nsid, c.prp1, c.prp2);
      case 0x09:
      case 0x0a: {
        const fid = c.cdw10 & 0xff;
        if (fid === 0x07) {
          const n = Math.min(this.opts.maxQueues, (c.cdw11 & 0xffff) + 1) - 1;
          return { dw0: (n << 16 | n) >>> 0 };
        }
        return fid === 0x0b ? {} : { status: st(0, 2) };
      }
      case 0x05: {
        const qid = c.cdw10 & 0xffff;
        const size = (c.cdw10 >>> 16) + 1;
        if (qid === 0 || this.cqs.has(qid) || qid > this.opts.maxQueues) return { status: st(1, 1) };
        if (size < 2 || size > this.opts.mqes + 1) return { status: st(1, 2) };
        const iv = c.cdw11 >>> 16;
        if (iv >= this.opts.msixVectors) return { status: st(1, 8) };
        this.cqs.set(qid, { base: c.prp1, size, head: 0, tail: 0, phase: 1, iv, ien: (c.cdw11 & 2) !== 0, backlog: [] });
        return {};
      }
      case 0x01: {
        const qid = c.cdw10 & 0xffff;
        const cqid = c.cdw11 >>> 16;
        if (!this.cqs.has(cqid)) return { status: st(1, 0) };
        if (qid === 0 || this.sqs.has(qid) || qid > this.opts.maxQueues) return { status: st(1, 1) };
        this.sqs.set(qid, { base: c.prp1, size: (c.cdw10 >>> 16) + 1, head: 0, tail: 0, cqid });
        return {};
      }
      case 0x00: return this.sqs.delete(c.cdw10 & 0xffff) ? {} : { status: st(1, 1) };
      case 0x04: return this.cqs.delete(c.cdw10 & 0xffff) ? {} : { status: st(1, 1) };
      case 0x02: {
        const lid = c.cdw10 & 0xff;
        const len = (((c.cdw11 & 0xffff) << 16 | c.cdw10 >>> 16) + 1) * 4;
        const buf = new Uint8Array(len);
        if (lid === 0x02) { buf[1] = 0x3b; buf[2] = 0x01; buf[3] = 100; buf[4] = 10; buf[48] = 7; }
        else if (lid !== 0x01 && lid !== 0x04) return { status: st(1, 9) };
        this.dmaOut(c.prp1, c.prp2, buf);
        return {};
      }
      case 0x0c: {
        if (this.aers.length >= 4) return { status: st(1, 5) };
        this.aers.push({ cid: c.cid });
        this.fireEvents();
        return undefined;
      }
      case 0x08: {
        const key = `${c.cdw10 & 0xffff}:${c.cdw10 >>> 16}`;
        const h = this.held.get(key);
        if (!h || this.ignoreAbort) return { dw0: 1 };
        this.held.delete(key);
        const sq = this.sqs.get(h.sqid);
        if (sq) this.post(sq.cqid, { dw0: 0, sqhd: sq.head, sqid: h.sqid, cid: h.cid, status: st(0, 7, false) });
        return { dw0: 0 };
      }
      default: return { status: st(0, 1) };
    }
  }

  private identify(cns: number, nsid: number, prp1: number, prp2: number): { dw0?: number; status?: number } {
    const b = new Uint8Array(4096);
    const v = new DataView(b.buffer);
    const ascii = (off: number, len: number, s: string): void => { for (let i = 0; i < len; i++) b[off + i] = i < s.length ? s.charCodeAt(i) : 0x20; };
    if (cns === 1) {
      v.setUint16(0, this.opts.vendorId, true); v.setUint16(2, this.opts.vendorId, true);
      ascii(4, 20, this.opts.serial); ascii(24, 40, this.opts.model); ascii(64, 8, '1.0');
      b[77] = this.opts.mdts; v.setUint32(80, 0x0001_0400, true); v.setUint32(92, 1 << 8, true);
      b[258] = 3; b[259] = 3; b[263] = 0; b[512] = 0x66; b[513] = 0x44;
      v.setUint32(516, Math.max(1, ...this.namespaces.keys()), true);
      v.setUint16(520, this.opts.oncs, true); b[525] = this.opts.vwc ? 1 : 0;
      ascii(3072, 32, 'sdf');
    } else if (cns === 2) {
      [...this.namespaces.keys()].filter((n) => n > nsid).sort((x, y) => x - y).forEach((n, i) => v.setUint32(4 * i, n, true));
    } else if (cns === 0) {
      const ns = this.namespaces.get(nsid);
      if (nsid === 0 || nsid === 0xffff_ffff) return { status: FakeNvme.st(0, 0x0b) };
      if (ns) {
        const blocks = ns.data.length / ns.lbaSize;
        v.setUint32(0, blocks, true); v.setUint32(8, blocks, true); v.setUint32(16, blocks, true);
        b[25] = 0; b[26] = 0; v.setUint32(128, Math.log2(ns.lbaSize) << 16, true);
      }
    } else {
      return { status: FakeNvme.st(0, 2) };
    }
    this.dmaOut(prp1, prp2, b);
    return {};
  }

  // ---- I/O ----------------------------------------------------------------------------------------------------------
  private io(c: { opc: number; nsid: number; prp1: number; prp2: number; cdw10: number; cdw11: number; cdw12: number }): { dw0?: number; status?: number } {
    const st = FakeNvme.st;
    const ns = this.namespaces.get(c.nsid);
    if (!ns) return { status: st(0, 0x0b) };
    const slba = c.cdw10 + c.cdw11 * 2 ** 32;
    const nlb = (c.cdw12 & 0xffff) + 1;
    const blocks = ns.data.length / ns.lbaSize;
    switch (c.opc) {
      case 0x00: return {};
      case 0x01:
      case 0x02: {
        if (slba + nlb > blocks) return { status: st(0, 0x80) };
        const len = nlb * ns.lbaSize;
        if (this.opts.mdts && len > 2 ** this.opts.mdts * 4096) return { status: st(0, 2) };
        const at = slba * ns.lbaSize;
        if (c.opc === 0x02) this.dmaOut(c.prp1, c.prp2, ns.data.subarray(at, at + len));
        else this.dmaIn(c.prp1, c.prp2, ns.data.subarray(at, at + len));
        return {};
      }
      case 0x08: {
        if (slba + nlb > blocks) return { status: st(0, 0x80) };
        ns.data.fill(0, slba * ns.lbaSize, (slba + nlb) * ns.lbaSize);
        return {};
      }
      case 0x09: {
        const nr = (c.cdw10 & 0xff) + 1;
        const m = this.mem;
        for (let i = 0; i < nr; i++) {
          const a = c.prp1 + 16 * i;
          const n = m.getUint32(a + 4, true);
          const s = m.getUint32(a + 8, true);
          ns.data.fill(0, s * ns.lbaSize, (s + n) * ns.lbaSize);
        }
        return {};
      }
      default: return { status: st(0, 1) };
    }
  }

  /** Guest-physical segments of a PRP-described transfer (specs.md §2.7), walking chained list pages. */
  segments(prp1: number, prp2: number, len: number): [number, number][] {
    const out: [number, number][] = [];
    const first = Math.min(len, 4096 - (prp1 % 4096));
    out.push([prp1, first]);
    let left = len - first;
    if (left <= 0) return out;
    if (left <= 4096) {
      out.push([prp2, left]);
      return out;
    }
    let list = prp2;
    const m = this.mem;
    while (left > 0) {
      const slotAddr = list;
      const entry = m.getUint32(slotAddr, true) + m.getUint32(slotAddr + 4, true) * 2 ** 32;
      const lastSlot = (slotAddr % 4096) === 4096 - 8;
      if (lastSlot && left > 4096) {
        list = entry;
        continue;
      }
      const n = Math.min(4096, left);
      out.push([entry, n]);
      left -= n;
      list += 8;
    }
    return out;
  }
  private dmaOut(prp1: number, prp2: number, src: Uint8Array): void {
    let off = 0;
    for (const [a, n] of this.segments(prp1, prp2, src.length)) { this.host.mem.set(src.subarray(off, off + n), a); off += n; }
  }
  private dmaIn(prp1: number, prp2: number, dst: Uint8Array): void {
    let off = 0;
    for (const [a, n] of this.segments(prp1, prp2, dst.length)) { dst.set(this.host.mem.subarray(a, a + n), off); off += n; }
  }

  // ---- events -----------------------------------------------------------------------------------------------------
  addNamespace(nsid: number, blocks: number, lbaSize = 512): void {
    this.namespaces.set(nsid, { lbaSize, data: new Uint8Array(blocks * lbaSize) });
  }
  /** Hot-plug: attach or detach a namespace and raise a "namespace attribute changed" notice. */
  attach(nsid: number, blocks: number): void { this.addNamespace(nsid, blocks); this.notice(); }
  detach(nsid: number): void { this.namespaces.delete(nsid); this.notice(); }
  private notice(): void {
    this.pendingEvents.push(0x04 << 16 | 0x00 << 8 | 0x2);
    this.fireEvents();
  }
  private fireEvents(): void {
    while (this.pendingEvents.length > 0 && this.aers.length > 0) {
      const a = this.aers.shift() as { cid: number };
      const dw0 = this.pendingEvents.shift() as number;
      this.post(0, { dw0, sqhd: this.sqs.get(0)?.head ?? 0, sqid: 0, cid: a.cid, status: 0 });
    }
  }
  /** Read the CQE the controller would have posted: unblock a command held by `drop`. */
  release(sqid: number, opc: number): void {
    this.drop.delete(`${sqid}:${opc}`);
  }
}

// The card end of the link (docs/link-protocol.md §4–§7): serves config/BAR accesses, reset, info, BIND, VERSION and
// DMA windows for registered functions on any number of connections, and gives each function a DmaPort and an MSI-X
// sender that use the connection the function was BOUND on. Socket: DMA by message (the host's IOMMU checks it).
// Shm: DMA is a direct copy into the guest memory the host shared, checked here against the mapped windows.
import type { Iova } from '../../brand.ts';
import { DmaFault, type DeviceLog, type DeviceMetrics, type DmaPort, type PushedEntries, type PushRefusal } from '../../contract.ts';
import { viewOf } from '../../layout.ts';
import type { Payload } from './codec.ts';
import { LinkError } from './errors.ts';
import { WindowTable, type DmaWindow } from './iommu.ts';
import {
  DeviceInfo, DeviceInfoFlag, DmaMapFlag, LINK_FN, LinkCmd, LinkErrno, Region, type Frame, type MgmtEvent, type MgmtReply, type MgmtRequest,
} from './messages.ts';
import { decodeMgmtJson, encodeMgmt, isMgmtEvent, isMgmtReply } from './mgmt.ts';
import {
  decodeDmaAccess, decodeDmaMap, decodeDmaUnmap, decodeDoorbellPush, decodeRegionAccess, encodeDmaAccess, encodeMsix, encodeRegionAccess,
  isAccessSize, regionValue,
} from './payloads.ts';
import { nullLog, nullMetrics, type LinkPeer } from './peer.ts';
import { DEFAULT_CAPS, decodeVersion, encodeVersion, negotiateVersion, type LinkCaps } from './version.ts';

/** What the card needs of a PCI function (the shape of PciFunction in ../pci-function.ts). */
export interface PciFunctionHandler {
  configRead(off: number, size: number): number;
  configWrite(off: number, size: number, value: number): void;
  barRead(bar: number, off: number, size: number): number;
  barWrite(bar: number, off: number, size: number, value: number): void;
  /** Optional: a doorbell write with pushed entries (DOORBELL_PUSH); null when taken, else why refused. */
  barPush?(bar: number, p: PushedEntries): PushRefusal | null;
  reset(): void;
}

/** A function's view of the link: DMA and MSI-X over the connection it is bound on. */
export interface FunctionPort {
  readonly fn: number;
  readonly dma: DmaPort;
  readonly sendMsi: (address: number, data: number, vector: number) => void;
  readonly bound: boolean;
  windows(): readonly DmaWindow[];
}

export interface CardPortOptions {
  log?: DeviceLog;
  metrics?: DeviceMetrics;
  /** The card's own limits for VERSION negotiation. */
  caps?: Partial<LinkCaps>;
}

/** VFIO: 9 PCI regions (BAR0–5, ROM, CONFIG, VGA) and 5 IRQ indices (INTX, MSI, MSIX, ERR, REQ). */
const PCI_NUM_REGIONS = 9;
const PCI_NUM_IRQS = 5;
const DI = DeviceInfo.offset;

function faultReason(e: unknown): DmaFault['reason'] {
  if (!(e instanceof LinkError)) return 'link-down';
  switch (e.errno) {
    case LinkErrno.EFAULT: return 'unmapped';
    case LinkErrno.EPERM: return 'permission';
    case LinkErrno.E2BIG:
    case LinkErrno.EMSGSIZE: return 'too-large';
    default: return 'link-down';
  }
}

class FnEntry implements FunctionPort {
  handler: PciFunctionHandler | undefined;
  peer: LinkPeer | undefined;
  readonly table = new WindowTable();
  readonly dma: DmaPort;
  readonly sendMsi: (address: number, data: number, vector: number) => void;

  constructor(readonly fn: number, private readonly card: CardPort) {
    this.dma = {
      read: (addr, dst) => this.read(addr, dst),
      write: (addr, src) => this.write(addr, src),
    };
    this.sendMsi = (address, data, vector) => {
      const peer = this.peer;
      if (peer === undefined || !peer.isUp) return this.card.dropped(this.fn, 'msi', address);
      peer.post(LinkCmd.MSIX, this.fn, encodeMsix(address, data, vector));
    };
  }

  get bound(): boolean { return this.peer !== undefined && this.peer.isUp; }
  windows(): readonly DmaWindow[] { return this.table.windows(); }

  private async read(addr: Iova, dst: Uint8Array): Promise<void> {
    const peer = this.linkFor(addr, dst.byteLength);
    if (peer.transport.sharedMemory !== undefined) return this.direct(addr, dst, false);
    this.checkWindows(addr, dst.byteLength, false);
    const max = peer.maxDataXfer;
    const parts: Promise<void>[] = [];
    for (let at = 0; at < dst.byteLength; at += max) {
      const n = Math.min(max, dst.byteLength - at);
      parts.push(peer.request(LinkCmd.DMA_READ, this.fn, encodeDmaAccess(addr + at, n)).then((r) => {
        const a = decodeDmaAccess(r.payload);
        if (a.data.byteLength !== n) throw new LinkError(LinkErrno.EPROTO, `DMA_READ reply of ${a.data.byteLength} bytes, asked ${n}`);
        dst.set(a.data, at);
      }));
    }
    try {
      await Promise.all(parts);
    } catch (e) {
      throw this.card.dmaFault(this.fn, new DmaFault(addr, dst.byteLength, faultReason(e)));
    }
  }

  private async write(addr: Iova, src: Uint8Array): Promise<void> {
    const peer = this.linkFor(addr, src.byteLength);
    if (peer.transport.sharedMemory !== undefined) return this.direct(addr, src, true);
    this.checkWindows(addr, src.byteLength, true);
    const max = peer.maxDataXfer;
    for (let at = 0; at < src.byteLength; at += max) {
      const n = Math.min(max, src.byteLength - at);
      peer.post(LinkCmd.DMA_WRITE, this.fn, [encodeDmaAccess(addr + at, n), src.subarray(at, at + n)]);
    }
  }

  /** The card's DMA engine refuses what the host announced it would refuse (the windows came with DMA_MAP), so a
   *  device learns of the fault — over a socket the host's IOMMU would drop a posted write silently. The host still
   *  enforces the same windows on its side. */
  private checkWindows(addr: number, len: number, write: boolean): void {
    const fault = this.table.walk(addr, len, write);
    if (fault !== null) throw this.card.dmaFault(this.fn, new DmaFault(addr, len, fault));
  }

  private linkFor(addr: number, len: number): LinkPeer {
    const peer = this.peer;
    if (peer === undefined || !peer.isUp) throw this.card.dmaFault(this.fn, new DmaFault(addr, len, 'link-down'));
    return peer;
  }

  /** Shared-memory DMA: the card enforces the windows itself, then copies. */
  private direct(addr: number, buf: Uint8Array, write: boolean): void {
    const shared = (this.peer as LinkPeer).transport.sharedMemory;
    const fault = this.table.walk(addr, buf.byteLength, write);
    if (fault !== null) throw this.card.dmaFault(this.fn, new DmaFault(addr, buf.byteLength, fault));
    this.table.walk(addr, buf.byteLength, write, (w, gpa, at, n) => {
      const mem = shared?.lookup(w.memId);
      if (mem === undefined) throw new Error(`invariant: window memId ${w.memId} was checked at DMA_MAP`);
      if (write) mem.set(buf.subarray(at, at + n), gpa);
      else buf.set(mem.subarray(gpa, gpa + n), at);
    });
  }
}

export class CardPort {
  /** Posted MGMT events from the hypervisor (console output, VM state). */
  onMgmtEvent: (ev: MgmtEvent, peer: LinkPeer) => void = () => {};
  /** Legacy mode's NIC port: a NET_FRAME from the hypervisor's virtio-net model of `fn`; false = no such port. */
  onNetFrame: (fn: number, frame: Uint8Array, peer: LinkPeer) => boolean = () => false;
  private readonly fns = new Map<number, FnEntry>();
  private readonly attached = new Set<LinkPeer>();
  private readonly caps: LinkCaps;
  readonly log: DeviceLog;
  readonly metrics: DeviceMetrics;

  constructor(opts: CardPortOptions = {}) {
    this.log = opts.log ?? nullLog;
    this.metrics = opts.metrics ?? nullMetrics;
    this.caps = { ...DEFAULT_CAPS, ...opts.caps };
  }

  get peers(): ReadonlySet<LinkPeer> { return this.attached; }

  /** The port of fn (created on first use, so a PciFunction can get its sendMsi before it is registered). */
  port(fn: number): FunctionPort { return this.entry(fn); }

  registerFunction(fn: number, handler: PciFunctionHandler): FunctionPort {
    const e = this.entry(fn);
    if (e.handler !== undefined) throw new Error(`fn ${fn} is already registered`);
    e.handler = handler;
    return e;
  }

  unregisterFunction(fn: number): void {
    this.fns.delete(fn);
  }

  /** Serve one link connection. */
  attach(peer: LinkPeer): void {
    this.attached.add(peer);
    peer.onRequest((f) => this.serve(peer, f));
    peer.on('posted-error', (f) => {
      this.metrics.inc('card.posted_errors');
      this.log.warn({ event: f.cmd === LinkCmd.DMA_WRITE ? 'card.dma-write-refused' : 'card.posted-error', fn: f.fn, cmd: f.cmd, errno: f.error },
        'host refused a posted frame');
    });
    peer.on('down', () => {
      this.attached.delete(peer);
      for (const e of this.fns.values()) {
        if (e.peer !== peer) continue;
        e.peer = undefined;
        e.table.clear();
        this.log.info({ event: 'card.fn-unbound', fn: e.fn }, 'link of a bound function went down');
      }
    });
  }

  /** The management channel over `peer` (card → hypervisor requests). */
  mgmtChannel(peer: LinkPeer, timeoutMs?: number): { request(req: MgmtRequest): Promise<MgmtReply>; netFrame(fn: number, frame: Uint8Array): boolean } {
    return {
      request: async (req) => {
        const r = await peer.request(LinkCmd.MGMT, LINK_FN, encodeMgmt(req), timeoutMs !== undefined ? { timeoutMs } : {});
        const v = decodeMgmtJson(r.payload);
        if (!isMgmtReply(v)) throw new LinkError(LinkErrno.EPROTO, 'MGMT reply is not {ok: …}');
        return v;
      },
      netFrame: (fn, frame) => {
        if (!peer.isUp) return false;
        peer.post(LinkCmd.NET_FRAME, fn, frame);
        return true;
      },
    };
  }

  close(): void {
    for (const p of [...this.attached]) p.close('card closing');
  }

  /** @internal count and log a DMA fault, returning it for throwing. */
  dmaFault(fn: number, f: DmaFault): DmaFault {
    this.metrics.inc('card.dma_faults');
    this.log.warn({ event: 'card.dma-fault', fn, addr: f.addr, length: f.length, reason: f.reason }, f.message);
    return f;
  }

  /** @internal an MSI-X or DMA dropped because fn is not bound to a live connection. */
  dropped(fn: number, what: string, addr: number): void {
    this.metrics.inc('card.unbound_drops');
    this.log.warn({ event: 'card.unbound-drop', fn, what, addr }, 'function not bound to a live link');
  }

  private entry(fn: number): FnEntry {
    let e = this.fns.get(fn);
    if (e === undefined) {
      e = new FnEntry(fn, this);
      this.fns.set(fn, e);
    }
    return e;
  }

  private serve(peer: LinkPeer, f: Frame): Payload | void {
    if (f.fn === LINK_FN) return this.serveLink(peer, f);
    if (f.cmd === LinkCmd.NET_FRAME) {
      if (!this.onNetFrame(f.fn, f.payload, peer)) throw new LinkError(LinkErrno.ENODEV, `fn ${f.fn} is no legacy NIC port on this connection`);
      return;
    }
    const e = this.fns.get(f.fn);
    const h = e?.handler;
    if (e === undefined || h === undefined) throw new LinkError(LinkErrno.ENODEV, `no function ${f.fn} on this card`);
    switch (f.cmd) {
      case LinkCmd.REGION_READ: {
        const a = decodeRegionAccess(f.payload);
        if (!isAccessSize(a.count)) throw new LinkError(LinkErrno.EINVAL, `region read of ${a.count} bytes`);
        const value = a.region === Region.CONFIG ? h.configRead(a.offset, a.count)
          : a.region <= Region.BAR5 ? h.barRead(a.region, a.offset, a.count) : this.badRegion(a.region);
        return encodeRegionAccess(a.offset, a.region, a.count, value);
      }
      case LinkCmd.REGION_WRITE: {
        const a = decodeRegionAccess(f.payload);
        const value = regionValue(a);
        if (a.region === Region.CONFIG) h.configWrite(a.offset, a.count, value);
        else if (a.region <= Region.BAR5) h.barWrite(a.region, a.offset, a.count, value);
        else this.badRegion(a.region);
        return encodeRegionAccess(a.offset, a.region, a.count);
      }
      case LinkCmd.DOORBELL_PUSH: return this.doorbellPush(h, f);
      case LinkCmd.DEVICE_RESET:
        h.reset();
        return;
      case LinkCmd.DEVICE_GET_INFO: {
        const b = new Uint8Array(DeviceInfo.size);
        const v = viewOf(b);
        v.setUint32(DI.flags, DeviceInfoFlag.RESET | DeviceInfoFlag.PCI, true);
        v.setUint32(DI.numRegions, PCI_NUM_REGIONS, true);
        v.setUint32(DI.numIrqs, PCI_NUM_IRQS, true);
        return b;
      }
      case LinkCmd.BIND:
        if (e.peer !== undefined && e.peer !== peer) this.log.info({ event: 'card.fn-rebound', fn: f.fn }, 'function moved to another connection');
        e.peer = peer;
        e.table.clear();
        return;
      case LinkCmd.DMA_MAP: return this.dmaMap(peer, e, f);
      case LinkCmd.DMA_UNMAP: {
        this.requireBound(peer, e);
        const u = decodeDmaUnmap(f.payload);
        if (e.table.unmap(u.iova, u.size) === undefined) throw new LinkError(LinkErrno.ENOENT, `no window 0x${u.iova.toString(16)}+${u.size}`);
        return;
      }
      default:
        throw new LinkError(LinkErrno.ENOSYS, `card does not serve cmd 0x${f.cmd.toString(16)} on a function`);
    }
  }

  private dmaMap(peer: LinkPeer, e: FnEntry, f: Frame): void {
    this.requireBound(peer, e);
    const m = decodeDmaMap(f.payload);
    if (e.table.size >= this.caps.max_dma_maps) throw new LinkError(LinkErrno.ENOSPC, `fn ${e.fn} has ${e.table.size} windows`);
    if (m.size === 0) throw new LinkError(LinkErrno.EINVAL, 'empty DMA window');
    const shared = peer.transport.sharedMemory;
    if (shared !== undefined) {
      const mem = shared.lookup(m.memId);
      if (mem === undefined) throw new LinkError(LinkErrno.EBADF, `guest memory ${m.memId} was not shared`);
      if (m.gpa + m.size > mem.byteLength) throw new LinkError(LinkErrno.EINVAL, `window gpa 0x${m.gpa.toString(16)}+${m.size} beyond memory ${m.memId}`);
    }
    const ok = e.table.map({ iova: m.iova, size: m.size, gpa: m.gpa, write: (m.flags & DmaMapFlag.WRITE) !== 0, memId: m.memId });
    if (!ok) throw new LinkError(LinkErrno.EEXIST, `window 0x${m.iova.toString(16)}+${m.size} overlaps`);
  }

  /** DOORBELL_PUSH (docs/link-protocol.md §4.1): a posted doorbell write with the entries it announces. A frame the
   *  function refuses whole (malformed, or the queue takes no pushes) gets the posted frame's error reply. */
  private doorbellPush(h: PciFunctionHandler, f: Frame): void {
    let refusal: PushRefusal | null;
    try {
      const p = decodeDoorbellPush(f.payload);
      if (p.region > Region.BAR5) this.badRegion(p.region);
      refusal = h.barPush === undefined ? { kind: 'not-enabled', reason: `fn ${f.fn} takes no pushed entries` } : h.barPush(p.region, p);
    } catch (e) {
      if (e instanceof LinkError) this.pushRefused(f.fn, e.message);
      throw e;
    }
    if (refusal === null) return;
    this.pushRefused(f.fn, refusal.reason);
    throw new LinkError(refusal.kind === 'malformed' ? LinkErrno.EINVAL : LinkErrno.ENOTSUP, refusal.reason);
  }

  private pushRefused(fn: number, reason: string): void {
    this.metrics.inc('card.push_refused');
    this.log.warn({ event: 'card.push-refused', fn, reason }, 'DOORBELL_PUSH refused');
  }

  private requireBound(peer: LinkPeer, e: FnEntry): void {
    if (e.peer !== peer) throw new LinkError(LinkErrno.EPERM, `fn ${e.fn} is not bound to this connection`);
  }

  private badRegion(region: number): never {
    throw new LinkError(LinkErrno.EINVAL, `region ${region} is not a BAR or config space`);
  }

  private serveLink(peer: LinkPeer, f: Frame): Payload | void {
    switch (f.cmd) {
      case LinkCmd.VERSION: {
        const agreed = negotiateVersion(decodeVersion(f.payload), this.caps);
        peer.maxDataXfer = agreed.caps.max_data_xfer_size;
        return encodeVersion(agreed);
      }
      case LinkCmd.MGMT: {
        const v = decodeMgmtJson(f.payload);
        if (!isMgmtEvent(v)) throw new LinkError(LinkErrno.EINVAL, 'MGMT frame to the card is not an event');
        this.onMgmtEvent(v, peer);
        return;
      }
      default:
        throw new LinkError(LinkErrno.ENODEV, `cmd 0x${f.cmd.toString(16)} is not a link-level command`);
    }
  }
}

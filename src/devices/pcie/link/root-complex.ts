// The host end of a link (docs/link-protocol.md §4, §7): config/BAR accesses to the card's functions, an IOMMU per
// function that serves the card's DMA_READ/DMA_WRITE against that function's guest memory, and MSI-X delivery.
// Anything outside a mapped window is refused (EFAULT/EPERM) and recorded as an IOMMU fault, never accessed.
import type { Gpa, Iova } from '../../brand.ts';
import type { DeviceLog, DeviceMetrics } from '../../contract.ts';
import { viewOf } from '../../layout.ts';
import type { Payload } from './codec.ts';
import { LinkError } from './errors.ts';
import { WindowTable, type WindowFault } from './iommu.ts';
import { DeviceInfo, DmaMapFlag, LINK_FN, LINK_VERSION, LinkCmd, LinkErrno, LinkFlag, Region, type Frame, type MgmtEvent, type MgmtReply, type MgmtRequest } from './messages.ts';
import { decodeMgmtJson, encodeMgmt, isMgmtRequest } from './mgmt.ts';
import {
  decodeDmaAccess, decodeMsix, decodeRegionAccess, encodeDmaAccess, encodeDoorbellPush, encodeDmaMap, encodeDmaUnmap, encodeRegionAccess, regionValue,
} from './payloads.ts';
import { nullLog, nullMetrics, type LinkPeer } from './peer.ts';
import { DEFAULT_CAPS, decodeVersion, encodeVersion, type LinkCaps, type VersionInfo } from './version.ts';

export interface IommuFault {
  readonly fn: number;
  readonly iova: number;
  readonly length: number;
  readonly write: boolean;
  readonly reason: WindowFault | 'unbound';
}

export interface RootComplexOptions {
  log?: DeviceLog;
  metrics?: DeviceMetrics;
  /** How many recent faults `faults()` keeps. */
  maxFaults?: number;
}

interface FnState {
  memory: Uint8Array;
  memId: number;
  readonly iommu: WindowTable;
}

const DEVICE_INFO = DeviceInfo.offset;

export class RootComplex {
  readonly peer: LinkPeer;
  /** MSI-X message from the card for fn (a posted write of `data` to `address`). */
  onMsi: (fn: number, address: number, data: number, vector: number) => void = () => {};
  /** Management requests from the card (the hypervisor obeys). Without a handler: ENOSYS. */
  onMgmt: ((req: MgmtRequest) => MgmtReply | Promise<MgmtReply>) | undefined;
  private readonly fns = new Map<number, FnState>();
  private readonly faultLog: IommuFault[] = [];
  private readonly maxFaults: number;
  private faultTotal = 0;
  private readonly log: DeviceLog;
  private readonly metrics: DeviceMetrics;
  private localMemIds = new WeakMap<Uint8Array, number>();
  private nextLocalMemId = 1;

  constructor(peer: LinkPeer, opts: RootComplexOptions = {}) {
    this.peer = peer;
    this.log = opts.log ?? nullLog;
    this.metrics = opts.metrics ?? nullMetrics;
    this.maxFaults = opts.maxFaults ?? 1024;
    peer.onRequest((f) => this.serve(f));
  }

  /** IOMMU faults seen so far (most recent `maxFaults`), and their total count. */
  faults(): readonly IommuFault[] { return this.faultLog; }
  get faultCount(): number { return this.faultTotal; }

  /** VERSION handshake; applies the agreed max_data_xfer_size to this link. */
  async negotiate(caps: Partial<LinkCaps> = {}): Promise<VersionInfo> {
    const r = await this.peer.request(LinkCmd.VERSION, LINK_FN, encodeVersion({ ...LINK_VERSION, caps: { ...DEFAULT_CAPS, ...caps } }));
    const v = decodeVersion(r.payload);
    this.peer.maxDataXfer = v.caps.max_data_xfer_size;
    return v;
  }

  /** Associate fn with its VM's guest memory and bind fn's DMA/MSI-X to this connection. Clears fn's windows. */
  async bind(fn: number, memory: Uint8Array): Promise<void> {
    const shared = this.peer.transport.sharedMemory;
    const memId = shared !== undefined ? await shared.share(memory) : this.localMemId(memory);
    const prev = this.fns.get(fn);
    if (prev !== undefined) {
      prev.iommu.clear();
      prev.memory = memory;
      prev.memId = memId;
    } else this.fns.set(fn, { memory, memId, iommu: new WindowTable() });
    await this.peer.request(LinkCmd.BIND, fn);
  }

  /** Forget fn (its VM was destroyed): drop its windows and its reference to the VM's guest memory, so that memory
   *  can be freed. Without this every destroyed VM's RAM stayed reachable from here (found by `nitrolab soak`). */
  unbind(fn: number): void {
    this.fns.get(fn)?.iommu.clear();
    this.fns.delete(fn);
  }

  /** Map IOVA window [iova, iova+size) → guest-physical gpa for fn (DMA_MAP; the card learns the window). */
  async map(fn: number, iova: Iova, gpa: Gpa, size: number, write: boolean): Promise<void> {
    const st = this.state(fn);
    if (gpa + size > st.memory.byteLength) throw new RangeError(`window gpa 0x${gpa.toString(16)}+${size} beyond guest memory`);
    const w = { iova, size, gpa, write, memId: st.memId };
    if (!st.iommu.map(w)) throw new LinkError(LinkErrno.EEXIST, `window 0x${iova.toString(16)}+${size} overlaps fn ${fn}'s windows`);
    const flags = DmaMapFlag.READ | (write ? DmaMapFlag.WRITE : 0);
    try {
      await this.peer.request(LinkCmd.DMA_MAP, fn, encodeDmaMap({ flags, memId: st.memId, iova, size, gpa }));
    } catch (e) {
      st.iommu.unmap(iova, size);
      throw e;
    }
  }

  /** Withdraw a window (must match a map exactly). The card drops it first, then the host stops translating. */
  async unmap(fn: number, iova: Iova, size: number): Promise<void> {
    const st = this.state(fn);
    await this.peer.request(LinkCmd.DMA_UNMAP, fn, encodeDmaUnmap(iova, size));
    st.iommu.unmap(iova, size);
  }

  async configRead(fn: number, off: number, size: number): Promise<number> {
    return this.regionRead(fn, Region.CONFIG, off, size);
  }

  async configWrite(fn: number, off: number, size: number, value: number): Promise<void> {
    await this.peer.request(LinkCmd.REGION_WRITE, fn, encodeRegionAccess(off, Region.CONFIG, size, value));
  }

  async barRead(fn: number, bar: number, off: number, size: number): Promise<number> {
    return this.regionRead(fn, bar, off, size);
  }

  /** Posted MMIO write (doorbells): ordered with later accesses, no completion. */
  barWrite(fn: number, bar: number, off: number, size: number, value: number): void {
    this.peer.post(LinkCmd.REGION_WRITE, fn, encodeRegionAccess(off, bar, size, value));
  }

  /** Posted doorbell write that carries the `count` entries it announces (DOORBELL_PUSH), starting at queue slot
   *  `start`: the card need not DMA-read them. `entries` is count × entrySize bytes. */
  barPush(fn: number, bar: number, off: number, value: number, start: number, entrySize: number, entries: Uint8Array): void {
    this.peer.post(LinkCmd.DOORBELL_PUSH, fn, [encodeDoorbellPush(off, bar, value, start, entries.byteLength / entrySize, entrySize), entries]);
  }

  async reset(fn: number): Promise<void> {
    await this.peer.request(LinkCmd.DEVICE_RESET, fn);
  }

  async getInfo(fn: number): Promise<{ flags: number; numRegions: number; numIrqs: number }> {
    const r = await this.peer.request(LinkCmd.DEVICE_GET_INFO, fn);
    if (r.payload.byteLength < DeviceInfo.size) throw new LinkError(LinkErrno.EPROTO, 'short DEVICE_GET_INFO reply');
    const v = viewOf(r.payload);
    return {
      flags: v.getUint32(DEVICE_INFO.flags, true), numRegions: v.getUint32(DEVICE_INFO.numRegions, true),
      numIrqs: v.getUint32(DEVICE_INFO.numIrqs, true),
    };
  }

  async ping(): Promise<void> {
    await this.peer.request(LinkCmd.PING, LINK_FN);
  }

  /** Unsolicited management event to the card (posted MGMT frame). */
  sendMgmtEvent(ev: MgmtEvent): void {
    this.peer.post(LinkCmd.MGMT, LINK_FN, encodeMgmt(ev));
  }

  close(): void { this.peer.close('root complex closed'); }

  // ---- the card's requests -----------------------------------------------------------------------------------

  private serve(f: Frame): Payload | void | Promise<Payload> {
    switch (f.cmd) {
      case LinkCmd.DMA_READ: return this.dmaRead(f);
      case LinkCmd.DMA_WRITE: return this.dmaWrite(f);
      case LinkCmd.MSIX: {
        const m = decodeMsix(f.payload);
        this.onMsi(f.fn, m.address, m.data, m.vector);
        return;
      }
      case LinkCmd.MGMT: return this.mgmt(f);
      default:
        throw new LinkError(LinkErrno.ENOSYS, `host does not serve cmd 0x${f.cmd.toString(16)}`);
    }
  }

  private regionRead = async (fn: number, region: number, off: number, size: number): Promise<number> => {
    const r = await this.peer.request(LinkCmd.REGION_READ, fn, encodeRegionAccess(off, region, size));
    return regionValue(decodeRegionAccess(r.payload));
  };

  private dmaRead(f: Frame): Payload {
    const a = decodeDmaAccess(f.payload);
    if (a.count > this.peer.maxDataXfer) throw new LinkError(LinkErrno.E2BIG, `DMA_READ of ${a.count} > max_data_xfer_size`);
    const st = this.translate(f.fn, a.iova, a.count, false);
    const parts: Uint8Array[] = [encodeDmaAccess(a.iova, a.count)];
    st.iommu.walk(a.iova, a.count, false, (_w, gpa, _at, n) => parts.push(st.memory.subarray(gpa, gpa + n)));
    return parts;
  }

  private dmaWrite(f: Frame): Payload | void {
    const a = decodeDmaAccess(f.payload);
    if (a.data.byteLength !== a.count) throw new LinkError(LinkErrno.EINVAL, `DMA_WRITE count ${a.count} with ${a.data.byteLength} bytes`);
    const st = this.translate(f.fn, a.iova, a.count, true);
    st.iommu.walk(a.iova, a.count, true, (_w, gpa, at, n) => st.memory.set(a.data.subarray(at, at + n), gpa));
    if (!(f.flags & LinkFlag.NO_REPLY)) return encodeDmaAccess(a.iova, a.count);
  }

  /** IOMMU check of a whole access; faults are recorded and answered with EFAULT (unmapped) or EPERM (read-only). */
  private translate(fn: number, iova: number, length: number, write: boolean): FnState {
    const st = this.fns.get(fn);
    const reason = st === undefined ? 'unbound' : st.iommu.walk(iova, length, write);
    if (reason === null && st !== undefined) return st;
    const fault: IommuFault = { fn, iova, length, write, reason: reason ?? 'unbound' };
    this.faultTotal++;
    this.faultLog.push(fault);
    if (this.faultLog.length > this.maxFaults) this.faultLog.shift();
    this.metrics.inc('iommu.faults');
    this.log.warn({ event: 'iommu.fault', ...fault }, 'card DMA outside its IOMMU windows refused');
    throw new LinkError(fault.reason === 'permission' ? LinkErrno.EPERM : LinkErrno.EFAULT,
      `IOMMU fault fn ${fn} iova 0x${iova.toString(16)}+${length} (${fault.reason})`);
  }

  private async mgmt(f: Frame): Promise<Payload> {
    const msg = decodeMgmtJson(f.payload);
    if (!isMgmtRequest(msg)) throw new LinkError(LinkErrno.EINVAL, 'MGMT frame to the host is not a request');
    if (this.onMgmt === undefined) throw new LinkError(LinkErrno.ENOSYS, 'no management handler on this host');
    return encodeMgmt(await this.onMgmt(msg));
  }

  private state(fn: number): FnState {
    const st = this.fns.get(fn);
    if (st === undefined) throw new RangeError(`fn ${fn} is not bound: call bind(fn, memory) first`);
    return st;
  }

  private localMemId(memory: Uint8Array): number {
    let id = this.localMemIds.get(memory);
    if (id === undefined) {
      id = this.nextLocalMemId++;
      this.localMemIds.set(memory, id);
    }
    return id;
  }
}

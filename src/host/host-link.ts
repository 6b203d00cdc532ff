// This pCPU worker's end of the PCIe link: a root complex over a socket connection or shared-memory rings. It
// negotiates the link version, serves the card's DMA through the IOMMU, and hands MSI-X messages to the VMs.
//
// Surprise removal (docs/reliability.md § card crash and restart): when a socket link drops, the worker's guests keep
// running. While the link is down their config and MMIO reads of card functions return all ones and their writes are
// dropped, as on a PCIe link that went away; whatever the card had in flight is gone with it. The link reconnects
// with backoff, negotiates VERSION again, and re-binds every function with its IOMMU windows (BIND + DMA_MAP, from the
// record kept here) before guest accesses reach the card again; then `onUp` tells the VMs the link is back.
import type { Gpa, Iova } from '../devices/brand.ts';
import type { DeviceLog } from '../devices/contract.ts';
import { RootComplex } from '../devices/pcie/link/root-complex.ts';
import { connectLink } from '../devices/pcie/link/socket-transport.ts';
import { openShmLink } from '../devices/pcie/link/shm-transport.ts';
import type { LinkPeer } from '../devices/pcie/link/peer.ts';
import { isLinkError } from '../devices/pcie/link/errors.ts';
import { LinkErrno } from '../devices/pcie/link/messages.ts';
import type { WorkerLink } from '../hypervisor/pcpu-pool.ts';
import type { FunctionAccess } from './vm-platform.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import { withBackoff } from './reconnect.ts';

export interface HostLink extends FunctionAccess {
  bind(fn: number, memory: Uint8Array): Promise<void>;
  /** The fn's VM is gone: forget its memory and windows. */
  unbind(fn: number): void;
  map(fn: number, iova: number, gpa: number, size: number, write: boolean): Promise<void>;
  unmap(fn: number, iova: number, size: number): Promise<void>;
  /** The root complex of the current connection. */
  readonly rc: RootComplex;
  /** False while the link is down (socket link: until it has reconnected and re-bound every function). */
  readonly isUp: boolean;
  /** From now on, accesses to functions `to` has (legacy mode's trapped functions) go to `to` instead of the card. */
  divert(to: FunctionAccess & { has(fn: number): boolean }): void;
  /** MSI-X messages the card delivered over this link so far. */
  readonly msiDelivered: number;
  /** Link-down episodes, reconnects, and guest accesses answered all-ones or dropped while down. */
  readonly counters: { downs: number; reconnects: number; allOnesReads: number; droppedWrites: number };
  close(): void;
}

export interface HostLinkHooks {
  onMsi(fn: number, address: number, data: number): void;
  onDown(reason: string): void;
  /** The link is back and every function is bound again (socket link only). */
  onUp?(info: { rebound: number; lost: number[] }): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string): void;
}

const ALL_ONES = { 1: 0xff, 2: 0xffff, 4: 0xffff_ffff } as const;

interface Binding { memory: Uint8Array; windows: Map<number, { iova: number; gpa: number; size: number; write: boolean }> }

/** A request that failed because the link went away (or the completion never came): the access reads all ones. */
function lostOnTheWire(e: unknown): boolean {
  return isLinkError(e) && (e.errno === LinkErrno.ECONNRESET || e.errno === LinkErrno.ETIMEDOUT);
}

export async function openHostLink(cfg: WorkerLink, hooks: HostLinkHooks): Promise<HostLink> {
  const log: DeviceLog = {
    debug: () => {},
    info: (o, m) => hooks.log('info', o as Record<string, unknown>, m ?? ''),
    warn: (o, m) => hooks.log('warn', o as Record<string, unknown>, m ?? ''),
    error: (o, m) => hooks.log('error', o as Record<string, unknown>, m ?? ''),
  };
  // CPU attribution (src/telemetry): the link's own work is `fabric` (frame encode/decode, socket or ring I/O, serving
  // the card's DMA by message); the guest's interrupt handler, called from inside it, is the guest's again.
  const ledger = threadLedger();
  const account = <T>(work: () => T): T => ledger.run('fabric', work);
  const bindings = new Map<number, Binding>();
  const counters = { downs: 0, reconnects: 0, allOnesReads: 0, droppedWrites: 0 };
  let msiDelivered = 0;
  let closed = false;
  let up = false;

  const connect = async (): Promise<RootComplex> => {
    const peer: LinkPeer = cfg.kind === 'socket'
      ? await connectLink(cfg.address, { name: 'pcpu-link', log, account })
      : openShmLink(cfg.desc, { name: 'pcpu-link', log, account });
    const next = new RootComplex(peer, { log });
    next.onMsi = (fn, address, data) => {
      msiDelivered++;
      ledger.run('guest', () => hooks.onMsi(fn, address, data));
    };
    try {
      await next.negotiate();
    } catch (e) {
      next.close();
      throw e;
    }
    return next;
  };

  /** Re-bind every function this worker holds on a fresh connection; fns the card no longer has are reported. */
  const rebind = async (next: RootComplex): Promise<number[]> => {
    const lost: number[] = [];
    for (const [fn, b] of bindings) {
      try {
        await next.bind(fn, b.memory);
        for (const w of b.windows.values()) await next.map(fn, w.iova as Iova, w.gpa as Gpa, w.size, w.write);
      } catch (e) {
        if (!next.peer.isUp) throw e;
        lost.push(fn);
        log.warn({ event: 'link.rebind-failed', fn, err: (e as Error).message }, `fn ${fn} could not be bound again: ${(e as Error).message}`);
      }
    }
    return lost;
  };

  const onPeerDown = (reason: string): void => {
    up = false;
    if (closed) return;
    counters.downs++;
    hooks.onDown(reason);
    if (cfg.kind !== 'socket') return; // an shm card is a thread of this process: its death ends the host
    void withBackoff(async () => {
      const next = await connect();
      try {
        const lost = await rebind(next);
        return { next, lost };
      } catch (e) {
        next.close();
        throw e;
      }
    }, {
      stopped: () => closed,
      onRetry: (n, e, delayMs) => { if (n === 1 || n % 10 === 0) log.info({ event: 'link.reconnect-retry', attempt: n, delayMs, err: e.message }, `card link: reconnect attempt ${n} failed (${e.message}); next in ${delayMs} ms`); },
    }).then((r) => {
      if (r === undefined) return;
      if (closed) { r.next.close(); return; }
      adopt(r.next);
      counters.reconnects++;
      log.info({ event: 'link.reconnected', rebound: bindings.size - r.lost.length, lost: r.lost }, `card link is back; ${bindings.size - r.lost.length} function(s) bound again`);
      hooks.onUp?.({ rebound: bindings.size - r.lost.length, lost: r.lost });
    });
  };

  let rc: RootComplex;
  const adopt = (next: RootComplex): void => {
    rc = next;
    up = next.peer.isUp;
    next.peer.on('down', (reason) => { if (rc === next) onPeerDown(reason); });
  };
  adopt(await connect());

  let diverted: (FunctionAccess & { has(fn: number): boolean }) | undefined;
  const read = async (size: 1 | 2 | 4, access: (rc: RootComplex) => Promise<number>): Promise<number> => {
    if (!up) { counters.allOnesReads++; return ALL_ONES[size]; }
    try {
      return await account(() => access(rc));
    } catch (e) {
      if (!lostOnTheWire(e)) throw e;
      counters.allOnesReads++;
      return ALL_ONES[size];
    }
  };
  return {
    get rc() { return rc; },
    get isUp() { return up; },
    get msiDelivered() { return msiDelivered; },
    counters,
    divert(to) { diverted = to; },
    configRead: (fn, off, size) => (diverted?.has(fn) ? diverted.configRead(fn, off, size) : read(size, (r) => r.configRead(fn, off, size))),
    configWrite: async (fn, off, size, v) => {
      if (diverted?.has(fn)) return diverted.configWrite(fn, off, size, v);
      if (!up) { counters.droppedWrites++; return; }
      await account(() => rc.configWrite(fn, off, size, v)).catch((e: unknown) => { if (!lostOnTheWire(e)) throw e; counters.droppedWrites++; });
    },
    barRead: (fn, bar, off, size) => (diverted?.has(fn) ? diverted.barRead(fn, bar, off, size) : read(size, (r) => r.barRead(fn, bar, off, size))),
    barWrite: (fn, bar, off, size, v) => {
      if (diverted?.has(fn)) return diverted.barWrite(fn, bar, off, size, v);
      if (!up) { counters.droppedWrites++; return; }
      account(() => rc.barWrite(fn, bar, off, size, v));
    },
    barPush: (fn, bar, off, v, start, entrySize, entries) => {
      if (diverted?.has(fn)) return diverted.barWrite(fn, bar, off, 4, v);
      if (!up) { counters.droppedWrites++; return; }
      account(() => rc.barPush(fn, bar, off, v, start, entrySize, entries));
    },
    bind: async (fn, memory) => {
      bindings.set(fn, { memory, windows: new Map() });
      if (up) await rc.bind(fn, memory);
    },
    unbind: (fn) => {
      bindings.delete(fn);
      rc.unbind(fn);
    },
    map: async (fn, iova, gpa, size, write) => {
      const b = bindings.get(fn);
      if (up) await rc.map(fn, iova as Iova, gpa as Gpa, size, write);
      b?.windows.set(iova, { iova, gpa, size, write });
    },
    unmap: async (fn, iova, size) => {
      bindings.get(fn)?.windows.delete(iova);
      if (up) await rc.unmap(fn, iova as Iova, size);
    },
    close() {
      closed = true;
      rc.close();
    },
  };
}

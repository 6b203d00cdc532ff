// Shared-memory transport (docs/link-protocol.md §1.2): two SPSC byte rings (host→card, card→host) plus a
// MessagePort side channel that hands the card each VM's guest-memory SharedArrayBuffer once (vfio-user's "fd passed
// with DMA_MAP"), so card DMA becomes a direct copy. The receiving side keeps its event loop free (Atomics.waitAsync).
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { LinkPeer, type LinkPeerOptions } from './peer.ts';
import { createShmRing, ShmRingConsumer, ShmRingProducer, type ShmRingDesc } from './shm-ring.ts';
import type { LinkTransport, SharedMemoryChannel, TransportSink } from './transport.ts';

/** One side's view of a shm link; transferable to a worker (put `port` in the transfer list: shmTransferList). */
export interface ShmLinkDesc {
  readonly role: 'host' | 'card';
  readonly tx: ShmRingDesc;
  readonly rx: ShmRingDesc;
  readonly port: MessagePort;
}

type SideMsg =
  | { t: 'mem'; memId: number; sab: SharedArrayBuffer; byteOffset: number; byteLength: number }
  | { t: 'mem-ack'; memId: number };

export interface ShmLinkOptions extends LinkPeerOptions {
  /** Ring polls before sleeping on the doorbell (spin briefly, then Atomics.waitAsync). */
  spins?: number;
  /** After the last data, keep polling the ring once per event-loop turn for this long (ms) before sleeping. A wake-up
   *  through Atomics.notify → waitAsync costs the producer ~25 µs and the consumer ~50 µs, so under load the
   *  consumer polls instead; the event loop stays free (one check per turn), and an idle link sleeps. 0 = never. */
  pollMs?: number;
}

const immediate = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** Create both ends' descriptors. `ringBytes` is each direction's ring capacity (power of two). */
export function createShmLinkPair(ringBytes = 256 * 1024): { host: ShmLinkDesc; card: ShmLinkDesc } {
  const h2c = createShmRing(ringBytes);
  const c2h = createShmRing(ringBytes);
  const { port1, port2 } = new MessageChannel();
  return {
    host: { role: 'host', tx: h2c, rx: c2h, port: port1 },
    card: { role: 'card', tx: c2h, rx: h2c, port: port2 },
  };
}

/** The transfer list to post a descriptor to a worker. */
export function shmTransferList(desc: ShmLinkDesc): MessagePort[] {
  return [desc.port];
}

/** Open one end of a shm link as a LinkPeer. */
export function openShmLink(desc: ShmLinkDesc, opts: ShmLinkOptions = {}): LinkPeer {
  return new LinkPeer(new ShmTransport(desc, opts.spins ?? 256, opts.pollMs ?? 0.2), { name: `shm-${desc.role}`, ...opts });
}

class ShmMemoryChannel implements SharedMemoryChannel {
  private readonly byView = new WeakMap<Uint8Array, Promise<number>>();
  private readonly regions = new Map<number, Uint8Array>();
  private readonly acks = new Map<number, () => void>();
  private nextId = 1;

  constructor(private readonly port: MessagePort) {}

  share(memory: Uint8Array): Promise<number> {
    const known = this.byView.get(memory);
    if (known !== undefined) return known;
    if (!(memory.buffer instanceof SharedArrayBuffer)) throw new TypeError('guest memory must be a SharedArrayBuffer view');
    const memId = this.nextId++;
    const p = new Promise<number>((resolve) => this.acks.set(memId, () => resolve(memId)));
    this.byView.set(memory, p);
    const msg: SideMsg = { t: 'mem', memId, sab: memory.buffer, byteOffset: memory.byteOffset, byteLength: memory.byteLength };
    this.port.postMessage(msg);
    return p;
  }

  lookup(memId: number): Uint8Array | undefined { return this.regions.get(memId); }

  onMessage(m: SideMsg): void {
    if (m.t === 'mem') {
      this.regions.set(m.memId, new Uint8Array(m.sab, m.byteOffset, m.byteLength));
      const ack: SideMsg = { t: 'mem-ack', memId: m.memId };
      this.port.postMessage(ack);
    } else {
      this.acks.get(m.memId)?.();
      this.acks.delete(m.memId);
    }
  }
}

export class ShmTransport implements LinkTransport {
  readonly kind = 'shm' as const;
  readonly copiesOnWrite = true;
  readonly sharedMemory: ShmMemoryChannel;
  private readonly tx: ShmRingProducer;
  private readonly rx: ShmRingConsumer;
  private readonly port: MessagePort;
  private sink: TransportSink | undefined;
  private readonly backlog: Uint8Array[] = [];
  private draining = false;
  private isDown = false;

  constructor(desc: ShmLinkDesc, private readonly spins: number, private readonly pollMs = 0) {
    this.tx = new ShmRingProducer(desc.tx);
    this.rx = new ShmRingConsumer(desc.rx);
    this.port = desc.port;
    this.sharedMemory = new ShmMemoryChannel(this.port);
    // The port's listener also keeps a worker alive while the link is open (a pending waitAsync does not).
    this.port.on('message', (m: SideMsg) => this.sharedMemory.onMessage(m));
  }

  start(sink: TransportSink): void {
    this.sink = sink;
    void this.readLoop();
  }

  write(chunks: readonly Uint8Array[]): void {
    if (this.isDown) return;
    for (const c of chunks) {
      if (this.backlog.length > 0) { this.backlog.push(c.slice()); continue; }
      const n = this.tx.tryWrite(c);
      if (n < c.byteLength) this.backlog.push(c.slice(n));
    }
    if (this.backlog.length > 0 && !this.draining) void this.drainBacklog();
  }

  close(reason = 'closed'): void {
    if (this.isDown) return;
    this.tx.close();
    this.rx.close();
    this.down(reason);
  }

  private async drainBacklog(): Promise<void> {
    this.draining = true;
    while (this.backlog.length > 0 && !this.isDown) {
      await this.tx.waitSpace();
      if (this.tx.closed) break;
      while (this.backlog.length > 0) {
        const c = this.backlog[0] as Uint8Array;
        const n = this.tx.tryWrite(c);
        if (n === c.byteLength) this.backlog.shift();
        else { this.backlog[0] = c.subarray(n); break; }
      }
    }
    this.draining = false;
  }

  private async readLoop(): Promise<void> {
    // Adaptive poll window: data that arrives while polling widens it (up to pollMs); a window that runs out narrows
    // it. When the two ends compete for one core (an oversubscribed machine), polling only delays the peer, windows
    // keep running out and the link falls back to sleeping on the doorbell.
    let window = this.pollMs;
    let idleSince = -1;
    while (!this.isDown) {
      const chunk = this.rx.read();
      if (chunk !== undefined) {
        if (idleSince >= 0) window = Math.min(this.pollMs, window * 2);
        idleSince = -1;
        this.sink?.data(chunk);
        // Let the peer's replies flush and other I/O run before polling again.
        await immediate();
        continue;
      }
      if (this.rx.closed) break;
      if (this.pollMs > 0) {
        const now = performance.now();
        if (idleSince < 0) idleSince = now;
        if (now - idleSince < window) { await immediate(); continue; }
        window = Math.max(this.pollMs / 32, window / 2);
      }
      idleSince = -1;
      await this.rx.waitData(this.spins);
    }
    // Bytes published before close are still delivered.
    const last = this.rx.read();
    if (last !== undefined && !this.isDown) this.sink?.data(last);
    this.down('peer closed the shm link');
  }

  private down(reason: string): void {
    if (this.isDown) return;
    this.isDown = true;
    this.backlog.length = 0;
    this.port.close();
    this.sink?.down(reason);
  }
}

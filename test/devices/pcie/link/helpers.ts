// Test helpers for the link suites (not a test file): both transports behind one factory so every suite runs over
// socket and shm, and a "raw" end that speaks frames without a LinkPeer (to misbehave: reorder, stall, send garbage).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { FrameDecoder, encodeFrame } from '../../../../src/devices/pcie/link/codec.ts';
import type { Frame } from '../../../../src/devices/pcie/link/messages.ts';
import type { LinkPeer, LinkPeerOptions } from '../../../../src/devices/pcie/link/peer.ts';
import { createShmLinkPair, openShmLink, ShmTransport } from '../../../../src/devices/pcie/link/shm-transport.ts';
import { SocketTransport, connectLink, listenLink } from '../../../../src/devices/pcie/link/socket-transport.ts';
import type { LinkTransport } from '../../../../src/devices/pcie/link/transport.ts';
import { CardPort } from '../../../../src/devices/pcie/link/card-port.ts';
import { RootComplex } from '../../../../src/devices/pcie/link/root-complex.ts';
import { ToyFunction } from './toy-function.ts';

export type TransportName = 'socket' | 'shm';
export const TRANSPORTS: readonly TransportName[] = ['socket', 'shm'];

function tmpSock(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nitrolab-link-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'link.sock');
}

/** A connected host/card pair of LinkPeers over `kind`, closed at teardown. */
export async function peerPair(t: Test, kind: TransportName, opts: LinkPeerOptions = {}): Promise<{ host: LinkPeer; card: LinkPeer }> {
  if (kind === 'shm') {
    const d = createShmLinkPair(64 * 1024);
    const host = openShmLink(d.host, opts);
    const card = openShmLink(d.card, opts);
    t.teardown(() => { host.close(); card.close(); });
    return { host, card };
  }
  const sockPath = tmpSock(t);
  let card: LinkPeer | undefined;
  const server = await listenLink(sockPath, (p) => { card = p; }, opts);
  t.teardown(() => server.close());
  const host = await connectLink(sockPath, opts);
  t.teardown(() => host.close());
  await until(() => card !== undefined);
  return { host, card: card as LinkPeer };
}

/** A frame-level end without a LinkPeer. */
export class RawEnd {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  downReason: string | undefined;
  readonly decoder: FrameDecoder;

  constructor(readonly transport: LinkTransport) {
    this.decoder = new FrameDecoder({
      frame: (f) => { this.frames.push(f); this.wake(); },
      oversize: () => {},
      protocolError: () => {},
    });
    transport.start({ data: (c) => this.decoder.push(c), down: (r) => { this.downReason = r; this.wake(); } });
  }

  send(f: Omit<Frame, 'payload'> & { payload?: Uint8Array }): void { this.transport.write([encodeFrame(f)]); }
  sendBytes(b: Uint8Array): void { this.transport.write([b]); }

  /** Resolve once `n` frames have arrived in total. */
  async waitFrames(n: number): Promise<Frame[]> {
    while (this.frames.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.frames;
  }

  async waitDown(): Promise<string> {
    while (this.downReason === undefined) await new Promise<void>((r) => this.waiters.push(r));
    return this.downReason;
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }
}

/** A LinkPeer (host side) connected to a RawEnd (card side). */
export async function rawPair(t: Test, kind: TransportName, opts: LinkPeerOptions = {}): Promise<{ peer: LinkPeer; raw: RawEnd }> {
  if (kind === 'shm') {
    const d = createShmLinkPair(64 * 1024);
    const peer = openShmLink(d.host, opts);
    const raw = new RawEnd(new ShmTransport(d.card, 16));
    t.teardown(() => { peer.close(); raw.transport.close(); });
    return { peer, raw };
  }
  const sockPath = tmpSock(t);
  let raw: RawEnd | undefined;
  const server = net.createServer((s) => { raw = new RawEnd(new SocketTransport(s)); });
  await new Promise<void>((r) => server.listen(sockPath, r));
  const peer = await connectLink(sockPath, opts);
  while (raw === undefined) await new Promise((r) => setImmediate(r));
  t.teardown(() => { peer.close(); raw?.transport.close(); server.close(); });
  return { peer, raw };
}

/** Let queued link work run (immediates, ring wake-ups, socket I/O) without timing assumptions. */
export async function until(cond: () => boolean, maxRounds = 100_000): Promise<void> {
  for (let i = 0; i < maxRounds && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error('condition not reached');
}

/** Host RootComplex ↔ CardPort over `kind`, with the toy stand-in function registered on `fns`. */
export async function linkRig(t: Test, kind: TransportName, fns: readonly number[] = [1], opts: LinkPeerOptions = {}) {
  const { host, card } = await peerPair(t, kind, opts);
  const cardPort = new CardPort();
  cardPort.attach(card);
  const rc = new RootComplex(host);
  const toys = new Map<number, ToyFunction>();
  for (const fn of fns) {
    const toy = new ToyFunction(cardPort.port(fn));
    cardPort.registerFunction(fn, toy);
    toys.set(fn, toy);
  }
  return { host, card, cardPort, rc, toys, toy: toys.get(fns[0] ?? 1) as ToyFunction };
}

export function guestMemory(bytes = 1 << 20): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

// Socket transport for the link (docs/link-protocol.md §1.1): a Unix socket path or host:port TCP. The card listens
// (many connections, one LinkPeer each); the host connects. One corked write per tick, Nagle off.
import net from 'node:net';
import { LinkPeer, type LinkPeerOptions } from './peer.ts';
import type { LinkTransport, TransportSink } from './transport.ts';

export type LinkAddress = { path: string } | { host: string; port: number };

/** "unix:/x.sock", a path containing "/" → Unix socket; "host:port" → TCP. */
export function parseLinkAddress(address: string): LinkAddress {
  if (address.startsWith('unix:')) return { path: address.slice(5) };
  if (address.includes('/')) return { path: address };
  const m = /^(.*):(\d+)$/.exec(address);
  if (m === null || m[1] === undefined || m[2] === undefined) throw new RangeError(`link address "${address}" is neither a path nor host:port`);
  const port = Number(m[2]);
  if (port > 65535) throw new RangeError(`link address "${address}": port ${port} > 65535`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}

export class SocketTransport implements LinkTransport {
  readonly kind = 'socket' as const;
  readonly copiesOnWrite = false;
  private sink: TransportSink | undefined;
  private closed = false;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
  }

  start(sink: TransportSink): void {
    this.sink = sink;
    this.socket.on('data', (chunk: Buffer) => sink.data(chunk));
    this.socket.on('error', (e) => this.down(`socket error: ${e.message}`));
    this.socket.on('close', () => this.down('socket closed'));
    if (this.socket.destroyed) this.down('socket closed');
  }

  write(chunks: readonly Uint8Array[]): void {
    if (this.closed || this.socket.destroyed) return;
    if (chunks.length === 1) {
      this.socket.write(chunks[0] as Uint8Array);
      return;
    }
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.socket.end();
    this.socket.destroySoon();
    this.down(reason);
  }

  private down(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.sink?.down(reason);
  }
}

export interface LinkServer {
  /** The address actually bound ("host:port" with the real port, or the socket path). */
  readonly address: string;
  readonly peers: ReadonlySet<LinkPeer>;
  close(): Promise<void>;
}

/** Card side: accept link connections, one LinkPeer per connection. */
export function listenLink(address: string, onPeer: (peer: LinkPeer) => void, opts: LinkPeerOptions = {}): Promise<LinkServer> {
  const addr = parseLinkAddress(address);
  const peers = new Set<LinkPeer>();
  const server = net.createServer((socket) => {
    const peer = new LinkPeer(new SocketTransport(socket), { name: `card<-${socket.remoteAddress ?? 'unix'}`, ...opts });
    peers.add(peer);
    peer.on('down', () => peers.delete(peer));
    onPeer(peer);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => {
      server.off('error', reject);
      const a = server.address();
      const bound = typeof a === 'string' || a === null ? address : `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
      resolve({
        address: bound,
        peers,
        close: () => new Promise<void>((res) => {
          for (const p of peers) p.close('server closing');
          server.close(() => res());
        }),
      });
    };
    if ('path' in addr) server.listen(addr.path, ready);
    else server.listen(addr.port, addr.host, ready);
  });
}

/** Host side: connect to a card's link address. */
export function connectLink(address: string, opts: LinkPeerOptions = {}): Promise<LinkPeer> {
  const addr = parseLinkAddress(address);
  return new Promise((resolve, reject) => {
    const socket = 'path' in addr ? net.createConnection(addr.path) : net.createConnection(addr.port, addr.host);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(new LinkPeer(new SocketTransport(socket), { name: `host->${address}`, ...opts }));
    });
  });
}

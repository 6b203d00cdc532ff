// How the suite reaches a card: a Connector opens one new link connection (docs/link-protocol.md §1) and returns its
// byte transport. Socket cards give as many connections as asked; a shm card gives one per ring pair it was handed.
import net from 'node:net';
import { parseLinkAddress } from '../devices/pcie/link/socket-transport.ts';
import { SocketTransport } from '../devices/pcie/link/socket-transport.ts';
import { ShmTransport, type ShmLinkDesc } from '../devices/pcie/link/shm-transport.ts';
import type { LinkTransport } from '../devices/pcie/link/transport.ts';

export interface Connector {
  readonly kind: 'socket' | 'shm';
  /** Open a new connection; rejects when the card cannot be reached or no connection is left. */
  open(): Promise<LinkTransport>;
}

export class NoMoreConnections extends Error {}

/** `unix-path` or `host:port` (the forms `nitrolab card --listen` accepts). */
export function socketConnector(address: string): Connector {
  const addr = parseLinkAddress(address);
  return {
    kind: 'socket',
    open: () => new Promise((resolve, reject) => {
      const s = 'path' in addr ? net.createConnection(addr.path) : net.createConnection(addr.port, addr.host);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new SocketTransport(s));
      });
    }),
  };
}

/** Host ends of shm ring pairs whose card ends a card already serves; each open() takes the next one. */
export function shmConnector(hostEnds: readonly ShmLinkDesc[]): Connector {
  const left = [...hostEnds];
  return {
    kind: 'shm',
    open: async () => {
      const d = left.shift();
      if (d === undefined) throw new NoMoreConnections(`all ${hostEnds.length} shm ring pairs are in use`);
      return new ShmTransport(d, 256);
    },
  };
}

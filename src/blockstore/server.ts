// The built-in EBS-like block store: an NBD server (specs.md §6) over TCP or a Unix socket whose exports are
// volumes (`vol-…`) kept as sparse files. Each connection is handshake → transmission → close; a bad peer only
// ever loses its own connection.
import { createServer, type Server, type Socket } from 'node:net';
import { SocketReader, StreamClosed } from './socket-reader.ts';
import { ExportStore, type ExportInfo } from './export-store.ts';
import { negotiate } from './handshake.ts';
import { serveTransmission } from './transmission.ts';
import { NBD_DEFAULT_MAX_PAYLOAD } from './protocol.ts';
import { ALL_FEATURES, silentLog, type BlockStoreLog, type Conn, type ServerFeatures } from './conn.ts';

export type { BlockStoreLog, ServerFeatures } from './conn.ts';
export { BlockStoreError, type ExportInfo } from './export-store.ts';

export interface BlockStoreOptions {
  /** TCP listen address (default 127.0.0.1) and port (default 0: any free port). Ignored with socketPath. */
  host?: string | undefined;
  port?: number | undefined;
  /** Listen on a Unix socket instead of TCP. */
  socketPath?: string | undefined;
  /** Directory holding `<name>.img` + `<name>.json` per export. */
  dir: string;
  log?: BlockStoreLog | undefined;
  /** Largest READ/WRITE payload accepted and advertised (default 32 MiB). */
  maxPayload?: number | undefined;
  /** Switch protocol features off (all on by default). */
  features?: Partial<ServerFeatures> | undefined;
}

export type BlockStoreAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; socketPath: string };

export interface BlockStore {
  readonly address: BlockStoreAddress;
  /** An NBD URI for an export: `nbd://host:port/name` or `nbd+unix:///name?socket=path`. */
  url(exportName: string): string;
  createExport(name: string, sizeBytes: number): Promise<ExportInfo>;
  /** Delete an export and close the connections using it. */
  deleteExport(name: string): Promise<void>;
  listExports(): ExportInfo[];
  /** Named event and command counters since start. */
  stats(): Record<string, number>;
  /** Open connections right now. */
  connections(): number;
  close(): Promise<void>;
}

interface Live { socket: Socket; exportName: string | null; done: Promise<void> }

export async function startBlockStore(opts: BlockStoreOptions): Promise<BlockStore> {
  const log = opts.log ?? silentLog;
  const maxPayload = opts.maxPayload ?? NBD_DEFAULT_MAX_PAYLOAD;
  const features: ServerFeatures = { ...ALL_FEATURES, ...opts.features };
  const counters = new Map<string, number>();
  const count = (name: string, by = 1): void => { counters.set(name, (counters.get(name) ?? 0) + by); };
  const store = await ExportStore.open(opts.dir, (file, reason) => {
    count('blockstore.export.skipped');
    log.warn({ event: 'blockstore.export.skipped', file, reason }, 'export metadata skipped');
  });
  const live = new Set<Live>();
  let nextId = 1;

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const entry: Live = { socket, exportName: null, done: Promise.resolve() };
    const id = nextId++;
    const conn: Conn = {
      id,
      socket,
      reader: new SocketReader(socket),
      store,
      maxPayload,
      features,
      event(level, name, detail) {
        count(name);
        log[level]({ event: name, conn: id, ...detail }, name);
      },
      count,
      bindExport(name) { entry.exportName = name; },
    };
    live.add(entry);
    count('nbd.connection');
    entry.done = serve(conn).finally(() => {
      live.delete(entry);
      socket.end(() => socket.destroy());
    });
  });

  async function serve(conn: Conn): Promise<void> {
    try {
      const n = await negotiate(conn);
      if (n === null) return;
      conn.bindExport(n.exportFile.info.name);
      conn.event('debug', 'nbd.transmission.start', { exportName: n.exportFile.info.name, structured: n.structured });
      await serveTransmission(conn, n);
    } catch (e) {
      if (e instanceof StreamClosed) conn.event('debug', 'nbd.connection.closed-by-peer');
      else conn.event('error', 'nbd.internal-error', { message: (e as Error).message });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (opts.socketPath !== undefined) server.listen(opts.socketPath, resolve);
    else server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  server.on('error', (e) => log.error({ event: 'blockstore.listen-error', message: e.message }, 'listen error'));

  let address: BlockStoreAddress;
  const a = server.address();
  if (opts.socketPath !== undefined) address = { kind: 'unix', socketPath: opts.socketPath };
  else if (a !== null && typeof a === 'object') address = { kind: 'tcp', host: a.address, port: a.port };
  else throw new Error('block store: listening socket has no address');
  log.info({ event: 'blockstore.listening', address, dir: opts.dir, exports: store.list().length }, 'block store listening');

  return {
    address,
    url(exportName) {
      const name = encodeURIComponent(exportName);
      if (address.kind === 'unix') return `nbd+unix:///${name}?socket=${encodeURIComponent(address.socketPath)}`;
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      return `nbd://${host}:${address.port}/${name}`;
    },
    async createExport(name, sizeBytes) {
      const info = await store.create(name, sizeBytes);
      log.info({ event: 'blockstore.export.created', name, sizeBytes }, 'export created');
      return info;
    },
    async deleteExport(name) {
      const users = [...live].filter((l) => l.exportName === name);
      for (const l of users) l.socket.destroy();
      await Promise.allSettled(users.map((l) => l.done));
      await store.delete(name);
      log.info({ event: 'blockstore.export.deleted', name, closedConnections: users.length }, 'export deleted');
    },
    listExports: () => store.list(),
    stats: () => Object.fromEntries(counters),
    connections: () => live.size,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const l of live) l.socket.destroy();
      await Promise.allSettled([...live].map((l) => l.done));
      await closed;
      await store.close();
      log.info({ event: 'blockstore.closed' }, 'block store closed');
    },
  };
}

// What the handshake and transmission handlers of one NBD connection see: the socket, its reader, the export store,
// and a way to record a named event (log line + counter). Misbehaving peers are reported here, never thrown at.
import type { Socket } from 'node:net';
import type { SocketReader } from './socket-reader.ts';
import type { ExportStore } from './export-store.ts';

/** The pino-compatible subset the block store logs through. */
export interface BlockStoreLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLog: BlockStoreLog = { debug() {}, info() {}, warn() {}, error() {} };

/** What the server offers. Everything is on by default; switching a feature off lets tests and lessons show how
 * a client copes with a plainer server (the server then also refuses the command with NBD_EINVAL). */
export interface ServerFeatures {
  readonly flush: boolean;
  readonly fua: boolean;
  readonly trim: boolean;
  readonly writeZeroes: boolean;
  readonly structuredReplies: boolean;
  /** NBD_OPT_INFO and NBD_OPT_GO (without them, clients must fall back to NBD_OPT_EXPORT_NAME). */
  readonly go: boolean;
}

export const ALL_FEATURES: ServerFeatures = {
  flush: true, fua: true, trim: true, writeZeroes: true, structuredReplies: true, go: true,
};

export interface Conn {
  readonly id: number;
  readonly socket: Socket;
  readonly reader: SocketReader;
  readonly store: ExportStore;
  /** Largest READ/WRITE payload the server accepts (advertised in NBD_INFO_BLOCK_SIZE). */
  readonly maxPayload: number;
  readonly features: ServerFeatures;
  /** Log a named event at `level` and count it. */
  event(level: 'debug' | 'info' | 'warn' | 'error', name: string, detail?: object): void;
  /** Count something without logging it (per-command counters on the hot path). */
  count(name: string, by?: number): void;
  /** Called once the connection has picked its export (so deleting the export can close it). */
  bindExport(name: string): void;
}

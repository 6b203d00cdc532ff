// Entry point that listens: builds the control-plane app and binds it. Nothing else in the control plane listens.
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from './app.ts';
import type { ExtraPlugin } from './app.ts';
import type { CardEndpoint } from './card-contract.ts';
import type { BlockStoreAdmin } from '../blockstore/admin.ts';

export interface StartOptions {
  port: number;
  host: string;
  dataDir: string;
  cards: readonly CardEndpoint[];
  logger?: FastifyBaseLogger | boolean;
  cardTimeoutMs?: number;
  apiToken?: string;
  apiReadOnlyToken?: string;
  plugins?: readonly ExtraPlugin[];
  blockStore?: BlockStoreAdmin;
}

export interface RunningControlPlane {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
}

export async function startControlPlane(opts: StartOptions): Promise<RunningControlPlane> {
  const app = await buildApp({
    dataDir: opts.dataDir,
    cards: opts.cards,
    logger: opts.logger ?? false,
    ...(opts.cardTimeoutMs !== undefined ? { cardTimeoutMs: opts.cardTimeoutMs } : {}),
    ...(opts.apiToken !== undefined ? { apiToken: opts.apiToken } : {}),
    ...(opts.apiReadOnlyToken !== undefined ? { apiReadOnlyToken: opts.apiReadOnlyToken } : {}),
    ...(opts.plugins !== undefined ? { plugins: opts.plugins } : {}),
    ...(opts.blockStore !== undefined ? { blockStore: opts.blockStore } : {}),
  });
  try {
    await app.listen({ port: opts.port, host: opts.host });
  } catch (e) {
    await app.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { url: `http://${host}:${port}`, close: () => app.close() };
}

// /v1/instances/:id/console/ws — an interactive serial console over a websocket (EC2 Serial Console-like). Text frames
// from the server are console output; text frames from the client are keystrokes/lines for the guest shell.
// `?offset=N` replays from absolute offset N of the card's console ring (0 = everything still held); the default is to
// attach at the current end. Closes with 4404 when the instance is gone from its card.
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.ts';
import { isInstanceId } from '../ids.ts';
import type { InstanceStore } from '../state/instance-store.ts';
import type { CardRegistry } from '../cards.ts';
import { ConsoleRelay } from '../console-relay.ts';

export interface ConsoleWsOptions {
  store: InstanceStore;
  cards: CardRegistry;
  pollMs?: number;
}

function parseOffset(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new ApiError('InvalidParameterValue', `offset ${JSON.stringify(raw)} is not a non-negative integer`);
  return n;
}

export const consoleWsRoutes: FastifyPluginAsync<ConsoleWsOptions> = async (app, opts) => {
  app.get<{ Params: { id: string }; Querystring: { offset?: string } }>('/v1/instances/:id/console/ws', {
    websocket: true,
    // Refused before the upgrade, with the catalogue's codes: a bad id, an unknown or terminated instance, a bad offset.
    preValidation: async (req) => {
      const id = req.params.id;
      if (!isInstanceId(id)) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: ${JSON.stringify(id)} is not i- followed by 17 hex digits`);
      const rec = opts.store.get(id);
      if (!rec) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID ${JSON.stringify(id)} does not exist`);
      if (rec.state.name === 'terminated') throw new ApiError('IncorrectInstanceState', `The instance '${id}' is terminated; it has no console`);
      parseOffset(req.query.offset);
    },
  }, async (socket, req) => {
    const rec = opts.store.get(req.params.id);
    if (!rec) { socket.close(4404, 'no such instance'); return; }
    const offset = parseOffset(req.query.offset);
    const relay = new ConsoleRelay({
      instanceId: rec.instanceId, card: opts.cards.get(rec.hostId), socket, log: req.log,
      ...(offset !== undefined ? { offset } : {}), ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    });
    socket.on('message', (data: Buffer, isBinary: boolean) => relay.input(isBinary ? data.toString('latin1') : data.toString('utf8')));
    socket.on('close', () => {
      relay.close();
      req.log.info({ event: 'console-ws-closed', instanceId: rec.instanceId, ...relay.counters }, 'console session closed');
    });
    req.log.info({ event: 'console-ws-open', instanceId: rec.instanceId, hostId: rec.hostId }, 'console session opened');
    try {
      await relay.start();
    } catch (e) {
      req.log.warn({ event: 'console-ws-card-error', instanceId: rec.instanceId, err: (e as Error).message }, 'could not attach to the card console');
      socket.close(1011, 'the card did not answer');
      relay.close();
    }
  });
};

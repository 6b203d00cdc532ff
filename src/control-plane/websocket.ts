// The control plane's one @fastify/websocket registration. It routes every HTTP upgrade through fastify, so it must
// be registered once per server: plugins that serve websockets (the console, the panel) call this, and only the first
// call registers it, at the control plane's root scope so every websocket route below it is served.
import type { FastifyInstance } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';

export const WS_MAX_PAYLOAD = 64 * 1024;

export async function ensureWebsocket(app: FastifyInstance): Promise<void> {
  if (app.hasDecorator('websocketServer')) return;
  await app.register(fastifyWebsocket, { options: { maxPayload: WS_MAX_PAYLOAD } });
}

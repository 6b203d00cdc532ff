// /v1/hosts — each configured card's own report (GET /mgmt/v1/card), or why it could not be asked.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CardRegistry } from '../cards.ts';
import { HostsReply } from '../schemas.ts';

export const hostRoutes: FastifyPluginAsyncTypebox<{ cards: CardRegistry }> = async (app, { cards }) => {
  app.get('/v1/hosts', {
    schema: { tags: ['hosts'], summary: 'Hosts and their cards: mode, link, firmware, capacity, usage', response: { 200: HostsReply } },
  }, async () => ({ hosts: await cards.survey() }));
};

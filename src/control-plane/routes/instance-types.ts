// /v1/instance-types — the catalogue (catalogue.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { INSTANCE_TYPES } from '../catalogue.ts';
import { InstanceTypesReply } from '../schemas.ts';

export const instanceTypeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/instance-types', {
    schema: { tags: ['catalogue'], summary: 'Instance types that can be launched', response: { 200: InstanceTypesReply } },
  }, async () => ({ instanceTypes: [...INSTANCE_TYPES] }));
};

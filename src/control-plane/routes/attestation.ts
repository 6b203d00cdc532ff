// /v1/hosts/:id/attestation?nonce=N — the host card's signed attestation document (docs/trust.md §4), fetched from the
// card's management API and passed on as the card signed it. Verify it with `nitrolab attest get|verify`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.ts';
import type { CardRegistry } from '../cards.ts';
import { cardErrorToApi } from '../instance-service.ts';
import { ErrorReply } from '../schemas.ts';

const Query = Type.Object({
  nonce: Type.String({ minLength: 8, maxLength: 512, description: 'Your challenge; the card signs it into the document' }),
});

export const attestationRoutes: FastifyPluginAsyncTypebox<{ cards: CardRegistry }> = async (app, { cards }) => {
  app.get('/v1/hosts/:id/attestation', {
    schema: {
      tags: ['hosts'], summary: 'Signed attestation document of the host\'s card (PCRs, firmware, nonce)',
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }), querystring: Query,
      response: { 200: Type.Object({ body: Type.Object({}, { additionalProperties: true }), signature: Type.String() }), 400: ErrorReply, 404: ErrorReply, 502: ErrorReply },
    },
  }, async (req) => {
    const card = cards.all().find((c) => c.hostId === req.params.id);
    if (!card) throw new ApiError('InvalidHostID.NotFound', `The host ID ${JSON.stringify(req.params.id)} does not exist; see GET /v1/hosts`);
    try {
      const doc = await card.attestation(req.query.nonce);
      req.log.info({ event: 'attestation-fetched', hostId: card.hostId }, 'attestation document fetched from card');
      return doc as { body: Record<string, unknown>; signature: string };
    } catch (e) {
      throw cardErrorToApi(e);
    }
  });
};

// The EBS part of the card's management API (registered inside mgmt-api.ts, so the bearer-token check applies).
// The control plane owns volume lifecycles (it creates and deletes exports on the block store); the card only
// connects to an export and shows it to the guest.
//   GET    /mgmt/v1/instances/:id/volumes             → { volumes: EbsVolumeView[] } (placement, limits, throttled time)
//   POST   /mgmt/v1/instances/:id/volumes             { volumeId, sizeBytes, deviceName, iops?, throughputMiBps? }
//                                                     → 201 { instanceId, volumeId, fn, nsid, state: 'attached' }
//   DELETE /mgmt/v1/instances/:id/volumes/:volumeId   → { instanceId, volumeId, state: 'detached' } (after in-flight I/O)
//   errors: 404 InstanceNotFound | VolumeNotAttached · 409 VolumeInUse | NoHotplugController | AttachmentLimitExceeded |
//           IncorrectInstanceState · 503 BlockStoreUnavailable
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../common/log.ts';
import { CardError } from '../mgmt-api.ts';
import type { CardInstance } from '../instances.ts';
import type { EbsVolumes } from './volumes.ts';

export const VOLUME_ID_PATTERN = '^vol-[0-9a-f]{8,17}$';

export const AttachBody = Type.Object({
  volumeId: Type.String({ pattern: VOLUME_ID_PATTERN }),
  sizeBytes: Type.Integer({ minimum: 4096, maximum: 64 * 1024 ** 4 }),
  deviceName: Type.String({ minLength: 1, maxLength: 32 }),
  iops: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  throughputMiBps: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String() });
const VolParams = Type.Object({ id: Type.String(), volumeId: Type.String({ pattern: VOLUME_ID_PATTERN }) });

/** What the routes need of the card service. */
export interface EbsHost {
  readonly ebs: EbsVolumes;
  get(instanceId: string): CardInstance | undefined;
}

export function ebsMgmtRoutes(card: EbsHost, log: Logger): FastifyPluginAsync {
  const find = (id: string): CardInstance => {
    const inst = card.get(id);
    if (!inst || inst.state === 'terminated') throw new CardError('InstanceNotFound', 404, `instance ${id} is not on this card`);
    return inst;
  };
  return async (app) => {
    app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/volumes', { schema: { params: IdParams } }, async (req) => {
      find(req.params.id);
      return { volumes: card.ebs.list(req.params.id) };
    });

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof AttachBody> }>(
      '/mgmt/v1/instances/:id/volumes', { schema: { params: IdParams, body: AttachBody } },
      async (req, reply) => {
        const inst = find(req.params.id);
        if (inst.state !== 'running' && inst.state !== 'pending' && inst.state !== 'stopped') {
          throw new CardError('IncorrectInstanceState', 409, `instance ${req.params.id} is ${inst.state}; volumes attach to pending, running or stopped instances`);
        }
        const ilog = log.child({ instanceId: req.params.id });
        const at = await card.ebs.attach(req.params.id, req.body, ilog);
        return reply.code(201).send({ instanceId: req.params.id, volumeId: req.body.volumeId, fn: at.fn, nsid: at.nsid, state: 'attached' });
      },
    );

    app.delete<{ Params: Static<typeof VolParams> }>('/mgmt/v1/instances/:id/volumes/:volumeId', { schema: { params: VolParams } }, async (req) => {
      find(req.params.id);
      await card.ebs.detach(req.params.id, req.params.volumeId, log.child({ instanceId: req.params.id }));
      return { instanceId: req.params.id, volumeId: req.params.volumeId, state: 'detached' };
    });
  };
}

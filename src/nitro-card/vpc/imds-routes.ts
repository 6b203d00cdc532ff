// IMDS on the card's management API: an instance's metadata options (EC2 ModifyInstanceMetadataOptions), the IMDS
// counters, and the public key that verifies instance identity signatures. Also the card's view of an instance as
// IMDS serves it (launch request + options + the card's defaults for what the control plane does not send).
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { KeyObject } from 'node:crypto';
import { CardError } from '../mgmt-api.ts';
import type { CardInstance } from '../instances.ts';
import { mergeMetadataOptions, MetadataOptionsSchema } from './imds-options.ts';
import type { ImdsInstance } from './imds-metadata.ts';
import type { ImdsService } from './imds.ts';

/** The emulator's one guest image, zone and account, used when a launch does not name them. */
export const IMDS_DEFAULTS = { imageId: 'ami-0000000000000001a', availabilityZone: 'us-east-1a', accountId: '000000000000', architecture: 'x86_64' } as const;

export function imdsInstanceOf(inst: CardInstance): ImdsInstance {
  const r = inst.req;
  const availabilityZone = r.availabilityZone ?? IMDS_DEFAULTS.availabilityZone;
  return {
    instanceId: r.instanceId,
    instanceType: r.instanceType,
    imageId: r.imageId ?? IMDS_DEFAULTS.imageId,
    userData: r.userData,
    pendingTime: inst.launchedAt,
    availabilityZone,
    region: availabilityZone.slice(0, -1),
    accountId: r.accountId ?? IMDS_DEFAULTS.accountId,
    architecture: IMDS_DEFAULTS.architecture,
    options: inst.metadataOptions,
  };
}

const IdParams = Type.Object({ id: Type.String() });

export function imdsMgmtRoutes(card: { get(id: string): CardInstance | undefined }, imds: ImdsService, identityKey: KeyObject | undefined): FastifyPluginAsync {
  const find = (id: string): CardInstance => {
    const inst = card.get(id);
    if (!inst) throw new CardError('InstanceNotFound', 404, `instance ${id} is not on this card`);
    return inst;
  };
  return async (app) => {
    app.get('/mgmt/v1/imds', async () => ({
      counters: { ...imds.counters },
      identityPublicKey: identityKey ? identityKey.export({ type: 'spki', format: 'der' }).toString('base64') : null,
    }));

    app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/metadata-options', { schema: { params: IdParams } },
      async (req) => ({ instanceId: req.params.id, metadataOptions: find(req.params.id).metadataOptions }));

    app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof MetadataOptionsSchema> }>('/mgmt/v1/instances/:id/metadata-options',
      { schema: { params: IdParams, body: MetadataOptionsSchema } },
      async (req) => {
        const inst = find(req.params.id);
        if (inst.state === 'terminated' || inst.state === 'shutting-down') {
          throw new CardError('IncorrectInstanceState', 409, `instance ${req.params.id} is ${inst.state}`);
        }
        inst.metadataOptions = mergeMetadataOptions(inst.metadataOptions, req.body);
        return { instanceId: req.params.id, metadataOptions: inst.metadataOptions };
      });
  };
}

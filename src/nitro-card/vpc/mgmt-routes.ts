// The VPC part of the card's management API (registered inside mgmt-api.ts, so the bearer-token check applies):
//   GET    /mgmt/v1/vpc                          → underlay address, counters, ENIs
//   PUT    /mgmt/v1/vpc/mappings                 { mappings: VpcMapping[] }            (full replace; mapping service)
//   PUT    /mgmt/v1/vpc/security-groups          { securityGroups: SecurityGroupSpec[] } (full replace)
//   GET    /mgmt/v1/instances/:id/eni            → the ENI with its counters
//   POST   /mgmt/v1/instances/:id/mirror         start mirroring the ENI to <card data>/mirrors/<id>.pcap
//   DELETE /mgmt/v1/instances/:id/mirror         stop
//   GET    /mgmt/v1/instances/:id/mirror         → { pcapBase64, packets, bytes, dropped, active }
//   GET    /mgmt/v1/instances/:id/flow-logs      → { records }
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { CardError } from '../mgmt-api.ts';
import type { VpcDataplane } from './dataplane.ts';
import { PcapWriter } from './pcap.ts';
import { SgSpecError } from './security-groups.ts';

export { LaunchNetworkSchema } from './schemas.ts';

const Mapping = Type.Object({
  vni: Type.Integer({ minimum: 1, maximum: 0xffffff }),
  privateIp: Type.String(),
  macAddress: Type.String(),
  instanceId: Type.String(),
  hostId: Type.String(),
  underlay: Type.Object({ address: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  securityGroupIds: Type.Array(Type.String()),
});

const Rule = Type.Object({
  ruleId: Type.String(),
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('all')]),
  fromPort: Type.Integer({ minimum: -1, maximum: 65535 }),
  toPort: Type.Integer({ minimum: -1, maximum: 65535 }),
  cidr: Type.Optional(Type.String()),
  groupId: Type.Optional(Type.String()),
}, { additionalProperties: false });

const Group = Type.Object({ groupId: Type.String(), rules: Type.Array(Rule) });
const IdParams = Type.Object({ id: Type.String() });

export function vpcMgmtRoutes(vpc: VpcDataplane, dataDir: string): FastifyPluginAsync {
  const mirrorDir = join(dataDir, 'mirrors');
  const eniOf = (id: string) => {
    const eni = vpc.eniOf(id);
    if (!eni) throw new CardError('InstanceNotFound', 404, `instance ${id} has no ENI on this card`);
    return eni;
  };
  return async (app) => {
    app.get('/mgmt/v1/vpc', async () => vpc.snapshot());

    app.get('/mgmt/v1/vpc/mappings', async () => ({ mappings: vpc.listMappings() }));

    app.put<{ Body: { mappings: Static<typeof Mapping>[] } }>('/mgmt/v1/vpc/mappings',
      { schema: { body: Type.Object({ mappings: Type.Array(Mapping, { maxItems: 65536 }) }) } },
      async (req) => {
        try { vpc.setMappings(req.body.mappings); } catch (e) { throw new CardError('InvalidParameter', 400, (e as Error).message); }
        return { mappings: req.body.mappings.length };
      });

    app.put<{ Body: { securityGroups: Static<typeof Group>[] } }>('/mgmt/v1/vpc/security-groups',
      { schema: { body: Type.Object({ securityGroups: Type.Array(Group, { maxItems: 10000 }) }) } },
      async (req) => {
        try { vpc.setSecurityGroups(req.body.securityGroups); } catch (e) {
          if (e instanceof SgSpecError) throw new CardError('InvalidParameter', 400, e.message);
          throw e;
        }
        return { securityGroups: req.body.securityGroups.length };
      });

    app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/eni', { schema: { params: IdParams } }, async (req) => eniOf(req.params.id).view());

    app.post<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/mirror', { schema: { params: IdParams } }, async (req, reply) => {
      const eni = eniOf(req.params.id);
      if (!eni.mirror?.open) {
        mkdirSync(mirrorDir, { recursive: true });
        eni.mirror = new PcapWriter(join(mirrorDir, `${req.params.id}.pcap`));
      }
      return reply.code(201).send({ active: true, path: eni.mirror.path });
    });

    app.delete<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/mirror', { schema: { params: IdParams } }, async (req) => {
      const eni = eniOf(req.params.id);
      eni.mirror?.close();
      return { active: false };
    });

    app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/mirror', { schema: { params: IdParams } }, async (req) => {
      const eni = eniOf(req.params.id);
      const path = eni.mirror?.path ?? join(mirrorDir, `${req.params.id}.pcap`);
      if (!existsSync(path)) throw new CardError('MirrorNotFound', 404, `instance ${req.params.id} has never been mirrored`);
      const m = eni.mirror;
      return { active: m?.open ?? false, packets: m?.packets ?? 0, bytes: m?.bytes ?? 0, dropped: m?.dropped ?? 0, pcapBase64: readFileSync(path).toString('base64') };
    });

    app.get<{ Params: Static<typeof IdParams> }>('/mgmt/v1/instances/:id/flow-logs', { schema: { params: IdParams } },
      async (req) => ({ records: eniOf(req.params.id).flowLog.records() }));
  };
}

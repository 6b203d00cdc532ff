// /v1/vpcs and /v1/subnets — the embedded default VPC (10.0.0.0/16, VNI 1, subnet 10.0.0.0/24) and any created here.
// A VPC is a Geneve VNI on every card; a subnet is where launches (`subnetId`) take their private IPs from.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { ErrorReply } from '../schemas.ts';
import type { VpcService } from '../vpc/vpc-service.ts';

const errors = { 400: ErrorReply, 404: ErrorReply };

const VpcSchema = Type.Object({ vpcId: Type.String(), cidrBlock: Type.String(), vni: Type.Integer({ description: 'Geneve VNI on the underlay' }), isDefault: Type.Boolean(), createTime: Type.String() });
const SubnetSchema = Type.Object({ subnetId: Type.String(), vpcId: Type.String(), cidrBlock: Type.String(), isDefault: Type.Boolean(), createTime: Type.String() });
const IdParams = Type.Object({ id: Type.String() });

export const vpcRoutes: FastifyPluginAsyncTypebox<{ vpc: VpcService }> = async (app, { vpc }) => {
  app.post('/v1/vpcs', {
    schema: {
      tags: ['vpc'], summary: 'Create a VPC (/16–/28) with its default security group',
      body: Type.Object({ cidrBlock: Type.String({ maxLength: 18 }) }, { additionalProperties: false }),
      response: { 201: VpcSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(vpc.createVpc(req.body)));

  app.get('/v1/vpcs', { schema: { tags: ['vpc'], summary: 'List VPCs', response: { 200: Type.Object({ vpcs: Type.Array(VpcSchema) }) } } },
    async () => ({ vpcs: vpc.vpcs() }));

  app.get('/v1/vpcs/:id', { schema: { tags: ['vpc'], summary: 'Describe a VPC', params: IdParams, response: { 200: VpcSchema, ...errors } } },
    async (req) => vpc.vpc(req.params.id));

  app.post('/v1/subnets', {
    schema: {
      tags: ['vpc'], summary: 'Create a subnet inside a VPC; its .1 is the router and DHCP server (the card)',
      body: Type.Object({ vpcId: Type.String({ maxLength: 64 }), cidrBlock: Type.String({ maxLength: 18 }) }, { additionalProperties: false }),
      response: { 201: SubnetSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(vpc.createSubnet(req.body)));

  app.get('/v1/subnets', { schema: { tags: ['vpc'], summary: 'List subnets', response: { 200: Type.Object({ subnets: Type.Array(SubnetSchema) }) } } },
    async () => ({ subnets: vpc.subnets() }));

  app.get('/v1/subnets/:id', { schema: { tags: ['vpc'], summary: 'Describe a subnet', params: IdParams, response: { 200: SubnetSchema, ...errors } } },
    async (req) => vpc.subnet(req.params.id));
};

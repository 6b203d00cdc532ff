// /v1/security-groups — create, list, describe, delete; /v1/security-groups/:id/rules — add and remove rules.
// Every change is pushed to every card before the reply (docs/vpc.md, "Security groups").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { ErrorReply } from '../schemas.ts';
import type { VpcService } from '../vpc/vpc-service.ts';

const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply };

export const RuleSchema = Type.Object({
  ruleId: Type.String(),
  groupId: Type.String(),
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('all')]),
  fromPort: Type.Integer({ description: 'First port; ICMP type; -1 for all' }),
  toPort: Type.Integer({ description: 'Last port; ICMP code; -1 for all' }),
  cidr: Type.Union([Type.String(), Type.Null()]),
  sourceGroupId: Type.Union([Type.String(), Type.Null()], { description: 'Peer group (source for ingress, destination for egress)' }),
  description: Type.String(),
});

export const GroupSchema = Type.Object({
  groupId: Type.String(),
  groupName: Type.String(),
  description: Type.String(),
  vpcId: Type.String(),
  createTime: Type.String(),
  rules: Type.Array(RuleSchema),
});

const RuleInput = Type.Object({
  direction: Type.Optional(Type.Union([Type.Literal('ingress'), Type.Literal('egress')], { default: 'ingress' })),
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('all'), Type.Literal('-1')]),
  fromPort: Type.Optional(Type.Integer({ minimum: -1, maximum: 65535 })),
  toPort: Type.Optional(Type.Integer({ minimum: -1, maximum: 65535 })),
  cidr: Type.Optional(Type.String({ maxLength: 18 })),
  sourceGroupId: Type.Optional(Type.String({ maxLength: 64 })),
  description: Type.Optional(Type.String({ maxLength: 255 })),
}, { additionalProperties: false });

const GroupParams = Type.Object({ id: Type.String() });

export const securityGroupRoutes: FastifyPluginAsyncTypebox<{ vpc: VpcService }> = async (app, { vpc }) => {
  app.post('/v1/security-groups', {
    schema: {
      tags: ['security-groups'], summary: 'Create a security group (no inbound rules, all outbound)',
      body: Type.Object({
        groupName: Type.String({ minLength: 1, maxLength: 255 }),
        description: Type.Optional(Type.String({ maxLength: 255 })),
        vpcId: Type.Optional(Type.String({ maxLength: 64, description: 'Default: the default VPC' })),
      }, { additionalProperties: false }),
      response: { 201: GroupSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(vpc.createGroup({
    groupName: req.body.groupName,
    ...(req.body.description !== undefined ? { description: req.body.description } : {}),
    ...(req.body.vpcId !== undefined ? { vpcId: req.body.vpcId } : {}),
  })));

  app.get('/v1/security-groups', {
    schema: { tags: ['security-groups'], summary: 'List security groups with their rules', response: { 200: Type.Object({ securityGroups: Type.Array(GroupSchema) }) } },
  }, async () => ({ securityGroups: vpc.groups() }));

  app.get('/v1/security-groups/:id', {
    schema: { tags: ['security-groups'], summary: 'Describe a security group', params: GroupParams, response: { 200: GroupSchema, ...errors } },
  }, async (req) => vpc.group(req.params.id));

  app.delete('/v1/security-groups/:id', {
    schema: { tags: ['security-groups'], summary: 'Delete a security group no instance uses', params: GroupParams, response: { 200: Type.Object({ groupId: Type.String(), deleted: Type.Boolean() }), ...errors } },
  }, async (req) => {
    await vpc.deleteGroup(req.params.id);
    return { groupId: req.params.id, deleted: true };
  });

  app.post('/v1/security-groups/:id/rules', {
    schema: {
      tags: ['security-groups'], summary: 'Add rules (all or none); applies to new flows at once, tracked flows keep flowing',
      params: GroupParams,
      body: Type.Object({ rules: Type.Array(RuleInput, { minItems: 1, maxItems: 60 }) }, { additionalProperties: false }),
      response: { 201: GroupSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(await vpc.addRules(req.params.id, req.body.rules.map((r) => ({
    protocol: r.protocol,
    ...(r.direction !== undefined ? { direction: r.direction } : {}),
    ...(r.fromPort !== undefined ? { fromPort: r.fromPort } : {}),
    ...(r.toPort !== undefined ? { toPort: r.toPort } : {}),
    ...(r.cidr !== undefined ? { cidr: r.cidr } : {}),
    ...(r.sourceGroupId !== undefined ? { sourceGroupId: r.sourceGroupId } : {}),
    ...(r.description !== undefined ? { description: r.description } : {}),
  })))));

  app.delete('/v1/security-groups/:id/rules/:ruleId', {
    schema: {
      tags: ['security-groups'], summary: 'Remove a rule; tracked flows it allowed continue until idle (EC2 semantics)',
      params: Type.Object({ id: Type.String(), ruleId: Type.String() }), response: { 200: GroupSchema, ...errors },
    },
  }, async (req) => vpc.removeRule(req.params.id, req.params.ruleId));
};

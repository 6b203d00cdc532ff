// Per-instance VPC views, forwarded to the instance's card:
//   GET    /v1/instances/:id/network        the ENI: addresses, groups, ENA-style allowance counters, drops by reason
//   POST   /v1/instances/:id/mirror         start mirroring the ENI to a pcap file (LINKTYPE_ETHERNET)
//   DELETE /v1/instances/:id/mirror         stop
//   GET    /v1/instances/:id/mirror.pcap    download the capture (application/vnd.tcpdump.pcap)
//   GET    /v1/instances/:id/flow-logs      flow-log records (JSON; ?format=text for the AWS space-separated lines)
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { CardRegistry } from '../cards.ts';
import { CardRequestError } from '../card-client.ts';
import { ApiError } from '../errors.ts';
import { cardErrorToApi } from '../instance-service.ts';
import type { InstanceStore } from '../state/instance-store.ts';
import { ErrorReply, InstanceIdParams } from '../schemas.ts';
import { cardVpc } from '../vpc/card-vpc.ts';

const errors = { 400: ErrorReply, 404: ErrorReply, 502: ErrorReply };

export const vpcInstanceRoutes: FastifyPluginAsyncTypebox<{ store: InstanceStore; cards: CardRegistry }> = async (app, { store, cards }) => {
  const liveOn = (id: string) => {
    const rec = store.get(id);
    if (!rec) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID ${JSON.stringify(id)} does not exist`);
    if (rec.state.name === 'terminated') throw new ApiError('InvalidParameterValue', `Instance ${id} is terminated`);
    return cardVpc(cards.get(rec.hostId));
  };
  const mapErr = (e: unknown, id: string): never => {
    if (e instanceof CardRequestError && e.cardCode === 'MirrorNotFound') throw new ApiError('InvalidMirror.NotFound', `Instance ${id} has never been mirrored`);
    if (e instanceof CardRequestError && e.cardCode === 'InstanceNotFound') throw new ApiError('InvalidParameterValue', `Instance ${id} has no network interface on its card`);
    throw cardErrorToApi(e);
  };

  app.get('/v1/instances/:id/network', {
    schema: { tags: ['vpc'], summary: 'The instance\'s ENI on its card, with allowance counters', params: InstanceIdParams, response: { 200: Type.Object({}, { additionalProperties: true }), ...errors } },
  }, async (req) => liveOn(req.params.id).eni(req.params.id).catch((e) => mapErr(e, req.params.id)));

  app.post('/v1/instances/:id/mirror', {
    schema: { tags: ['vpc'], summary: 'Start mirroring the ENI to a pcap file', params: InstanceIdParams, response: { 201: Type.Object({ active: Type.Boolean() }), ...errors } },
  }, async (req, reply) => {
    await liveOn(req.params.id).startMirror(req.params.id).catch((e) => mapErr(e, req.params.id));
    return reply.code(201).send({ active: true });
  });

  app.delete('/v1/instances/:id/mirror', {
    schema: { tags: ['vpc'], summary: 'Stop mirroring', params: InstanceIdParams, response: { 200: Type.Object({ active: Type.Boolean() }), ...errors } },
  }, async (req) => {
    await liveOn(req.params.id).stopMirror(req.params.id).catch((e) => mapErr(e, req.params.id));
    return { active: false };
  });

  app.get('/v1/instances/:id/mirror.pcap', {
    schema: { tags: ['vpc'], summary: 'The mirror capture (libpcap, Ethernet); open with tshark -r or Wireshark', params: InstanceIdParams },
  }, async (req, reply) => {
    const m = await liveOn(req.params.id).mirror(req.params.id).catch((e) => mapErr(e, req.params.id));
    reply.header('content-disposition', `attachment; filename="${req.params.id}.pcap"`);
    reply.header('x-mirror-active', String(m.active));
    return reply.type('application/vnd.tcpdump.pcap').send(m.pcap);
  });

  app.get('/v1/instances/:id/flow-logs', {
    schema: {
      tags: ['vpc'], summary: 'Flow-log records: ACCEPT/REJECT, 5-tuple, packets, bytes, start, end', params: InstanceIdParams,
      querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('text')])) }),
      response: { 200: Type.Union([Type.Object({ records: Type.Array(Type.Object({}, { additionalProperties: true })) }), Type.String()]), ...errors },
    },
  }, async (req, reply) => {
    const records = await liveOn(req.params.id).flowLogs(req.params.id).catch((e) => mapErr(e, req.params.id)) as Record<string, unknown>[];
    if (req.query.format !== 'text') return { records };
    const cols = ['version', 'interfaceId', 'srcAddr', 'dstAddr', 'srcPort', 'dstPort', 'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'logStatus'];
    const text = ['version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
      ...records.map((r) => cols.map((c) => String(r[c])).join(' '))].join('\n') + '\n';
    return reply.type('text/plain; charset=utf-8').send(text);
  });
};

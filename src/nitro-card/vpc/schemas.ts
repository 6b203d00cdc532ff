// Card-side schemas for the VPC part of a launch request (kept apart from mgmt-routes.ts so mgmt-api.ts can import
// it without an import cycle).
import { Type } from '@sinclair/typebox';

const Bucket = Type.Object({
  size: Type.Number({ minimum: 0 }), oneTimeBurst: Type.Number({ minimum: 0 }), refillTimeMs: Type.Number({ exclusiveMinimum: 0 }),
}, { additionalProperties: false });
const Limits = Type.Object({ bandwidth: Bucket, ops: Bucket }, { additionalProperties: false });

/** The `network` member of a launch request. */
export const LaunchNetworkSchema = Type.Object({
  eniId: Type.String({ pattern: '^eni-[0-9a-f]{8,17}$' }),
  macAddress: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
  privateIp: Type.String({ minLength: 7, maxLength: 15 }),
  subnetCidr: Type.String({ minLength: 9, maxLength: 18 }),
  vni: Type.Integer({ minimum: 1, maximum: 0xffffff }),
  securityGroupIds: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 5 }),
  limits: Type.Optional(Type.Object({ tx: Limits, rx: Limits }, { additionalProperties: false })),
  sourceDestCheck: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });


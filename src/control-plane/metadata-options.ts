// EC2 InstanceMetadataOptions as the control plane takes them (RunInstances `metadataOptions`,
// ModifyInstanceMetadataOptions) and stores them; the card enforces them (src/nitro-card/vpc/imds-options.ts, the
// card's copy of the same rules: optional|required, hop limit 1–64, enabled|disabled; defaults optional, 1, enabled).
import { Type, type Static } from '@fastify/type-provider-typebox';

export interface MetadataOptions {
  httpTokens: 'optional' | 'required';
  httpPutResponseHopLimit: number;
  httpEndpoint: 'enabled' | 'disabled';
}

export const DEFAULT_METADATA_OPTIONS: Readonly<MetadataOptions> = Object.freeze({ httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' });

const Tokens = Type.Union([Type.Literal('optional'), Type.Literal('required')], { description: 'required = IMDSv2 only: a GET without a session token gets 401' });
const HopLimit = Type.Integer({ minimum: 1, maximum: 64, description: 'IP TTL of the token PUT response (default 1)' });
const Endpoint = Type.Union([Type.Literal('enabled'), Type.Literal('disabled')], { description: 'disabled = connections to 169.254.169.254:80 are reset' });

/** What a launch or a modify may set; members left out take the default (launch) or stay as they are (modify). */
export const MetadataOptionsInput = Type.Object({
  httpTokens: Type.Optional(Tokens), httpPutResponseHopLimit: Type.Optional(HopLimit), httpEndpoint: Type.Optional(Endpoint),
}, { additionalProperties: false, description: 'EC2 InstanceMetadataOptions (IMDS on the card, docs/vpc.md)' });
export type MetadataOptionsInput = Static<typeof MetadataOptionsInput>;

/** The options an instance has. */
export const MetadataOptionsSchema = Type.Object({ httpTokens: Tokens, httpPutResponseHopLimit: HopLimit, httpEndpoint: Endpoint });

export function mergeMetadataOptions(base: Readonly<MetadataOptions>, over: MetadataOptionsInput | undefined): MetadataOptions {
  return {
    httpTokens: over?.httpTokens ?? base.httpTokens,
    httpPutResponseHopLimit: over?.httpPutResponseHopLimit ?? base.httpPutResponseHopLimit,
    httpEndpoint: over?.httpEndpoint ?? base.httpEndpoint,
  };
}

/** A stored value (JSON; NULL for instances from before migration 3) as options. */
export function parseStoredMetadataOptions(json: string | null | undefined): MetadataOptions {
  if (json === null || json === undefined) return { ...DEFAULT_METADATA_OPTIONS };
  return mergeMetadataOptions(DEFAULT_METADATA_OPTIONS, JSON.parse(json) as MetadataOptionsInput);
}

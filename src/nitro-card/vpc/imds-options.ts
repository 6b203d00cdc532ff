// An instance's IMDS settings, as EC2's InstanceMetadataOptions (RunInstances MetadataOptions and
// ModifyInstanceMetadataOptions): whether IMDSv2 tokens are required, the IP TTL of the token PUT's response (the hop
// limit, 1–64) and whether the endpoint answers at all. Defaults are EC2's API defaults: optional, 1, enabled.
import { Type, type Static } from '@sinclair/typebox';

export type HttpTokens = 'optional' | 'required';
export type HttpEndpoint = 'enabled' | 'disabled';

export interface MetadataOptions {
  httpTokens: HttpTokens;
  /** IP TTL of the token PUT's response packets (EC2 HttpPutResponseHopLimit). */
  httpPutResponseHopLimit: number;
  httpEndpoint: HttpEndpoint;
}

/** EC2's defaults for an instance launched without MetadataOptions (the hop limit is 1, as RunInstances uses). */
export const DEFAULT_METADATA_OPTIONS: Readonly<MetadataOptions> = Object.freeze({
  httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled',
});

export const MIN_HOP_LIMIT = 1;
export const MAX_HOP_LIMIT = 64;

/** Every member optional: at launch the rest are the defaults; on modify the rest are kept. */
export const MetadataOptionsSchema = Type.Object({
  httpTokens: Type.Optional(Type.Union([Type.Literal('optional'), Type.Literal('required')], { description: 'required = IMDSv2 only (a GET without a token gets 401)' })),
  httpPutResponseHopLimit: Type.Optional(Type.Integer({ minimum: MIN_HOP_LIMIT, maximum: MAX_HOP_LIMIT, description: 'IP TTL of the token PUT response (default 1)' })),
  httpEndpoint: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')], { description: 'disabled = the card answers 169.254.169.254:80 with a TCP reset' })),
}, { additionalProperties: false, description: 'EC2 InstanceMetadataOptions' });
export type MetadataOptionsInput = Static<typeof MetadataOptionsSchema>;

/** `over` applied on top of `base` (the defaults at launch, the current options on modify). */
export function mergeMetadataOptions(base: Readonly<MetadataOptions>, over: MetadataOptionsInput | undefined): MetadataOptions {
  const out: MetadataOptions = { ...base };
  if (over?.httpTokens !== undefined) out.httpTokens = over.httpTokens;
  if (over?.httpPutResponseHopLimit !== undefined) out.httpPutResponseHopLimit = over.httpPutResponseHopLimit;
  if (over?.httpEndpoint !== undefined) out.httpEndpoint = over.httpEndpoint;
  if (!(Number.isInteger(out.httpPutResponseHopLimit) && out.httpPutResponseHopLimit >= MIN_HOP_LIMIT && out.httpPutResponseHopLimit <= MAX_HOP_LIMIT)) {
    throw new RangeError(`httpPutResponseHopLimit ${out.httpPutResponseHopLimit} is not ${MIN_HOP_LIMIT}-${MAX_HOP_LIMIT}`);
  }
  return out;
}

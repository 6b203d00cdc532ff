// The control plane's one error catalogue: stable codes, their HTTP status and what each means.
// Codes follow the EC2 API where EC2 has one (reference/nitro.md §5); `InvalidInstanceID.NotFound` is EC2's name for
// an unknown instance id and is used as-is, so EC2-minded clients can match on it.

export const ErrorCatalogue = {
  InvalidParameterValue: { status: 400, description: 'A request parameter is missing, malformed or out of range.' },
  InvalidInstanceType: { status: 400, description: 'The instance type is not in the catalogue (GET /v1/instance-types).' },
  'InvalidInstanceID.Malformed': { status: 400, description: 'The instance id is not i- followed by 17 hex digits.' },
  Unauthorized: { status: 401, description: 'Missing or wrong bearer token.' },
  UnauthorizedOperation: { status: 403, description: 'The API key is read-only; this call needs the admin key.' },
  'InvalidInstanceID.NotFound': { status: 404, description: 'No instance with this id.' },
  RouteNotFound: { status: 404, description: 'No such route.' },
  IncorrectInstanceState: { status: 409, description: 'The instance is not in a state that allows this call (e.g. stop a pending instance, reboot a stopped one).' },
  'InvalidVolume.NotFound': { status: 404, description: 'No volume with this id.' },
  'InvalidSnapshot.NotFound': { status: 404, description: 'No snapshot with this id.' },
  InvalidParameterCombination: { status: 400, description: 'Parameters that are valid alone do not go together (e.g. gp3 throughput above 0.25 MiB/s per IOPS).' },
  MissingParameter: { status: 400, description: 'A parameter this request needs is missing (e.g. iops for io2).' },
  VolumeInUse: { status: 409, description: 'The volume is attached to an instance; detach it first.' },
  IncorrectState: { status: 409, description: 'The volume or snapshot is not in a state that allows this call (e.g. attach a volume that is not available).' },
  AttachmentLimitExceeded: { status: 409, description: 'The instance cannot take another volume.' },
  BlockStoreUnavailable: { status: 503, description: 'The block store is not configured or did not answer; nothing was changed.' },
  'InvalidHostID.NotFound': { status: 404, description: 'No host (card) with this id is configured (GET /v1/hosts).' },
  'InvalidGroup.NotFound': { status: 404, description: 'No security group with this id.' },
  'InvalidGroup.Duplicate': { status: 400, description: 'A security group with this name already exists.' },
  'InvalidPermission.Duplicate': { status: 400, description: 'The security group already has this rule.' },
  'InvalidPermission.NotFound': { status: 404, description: 'The security group has no rule with this id.' },
  DependencyViolation: { status: 409, description: 'The security group is still used by an instance or named by another group\'s rule.' },
  'InvalidVpcID.NotFound': { status: 404, description: 'No VPC with this id.' },
  'InvalidSubnetID.NotFound': { status: 404, description: 'No subnet with this id.' },
  'InvalidSubnet.Range': { status: 400, description: 'The subnet CIDR block is not within its VPC\'s block.' },
  'InvalidSubnet.Conflict': { status: 400, description: 'The subnet CIDR block overlaps another subnet of the VPC.' },
  'InvalidMirror.NotFound': { status: 404, description: 'The instance has never been mirrored (POST /v1/instances/:id/mirror).' },
  InsufficientInstanceCapacity: { status: 503, description: 'No host has room for the request right now; nothing was launched.' },
  CardUnavailable: { status: 502, description: 'A host card did not answer, answered garbage, or refused our credentials.' },
  InternalError: { status: 500, description: 'A bug in the control plane; it has been logged.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ErrorCatalogue;

/** An API error: a catalogue code plus a short message that names the offending value. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = ErrorCatalogue[code].status;
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** Body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  requestId: string;
}

/** Fastify's own errors (validation, bad JSON, body too large, bad content type) mapped onto the catalogue. */
export function fromFastifyError(err: { code?: string; statusCode?: number; message: string }): ApiError {
  if (err.code === 'FST_ERR_VALIDATION') return new ApiError('InvalidParameterValue', err.message);
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    if (status === 404) return new ApiError('RouteNotFound', err.message);
    return new ApiError('InvalidParameterValue', err.message);
  }
  return new ApiError('InternalError', 'Internal error', { cause: err });
}

interface ValidationItem { instancePath?: string; message?: string; params?: Record<string, unknown> }

/**
 * Rewrite a schema-validation failure so the message names the offending value, e.g.
 * "body/count must be <= 20 (got 50)" or "body must NOT have additional properties (colour)".
 */
export function describeValidation(err: { message: string; validation?: ValidationItem[]; validationContext?: string },
  input: Record<string, unknown>): string {
  const first = err.validation?.[0];
  if (!first) return err.message;
  const ctx = err.validationContext ?? 'request';
  const path = first.instancePath ?? '';
  let value: unknown = input[ctx];
  for (const part of path.split('/').filter(Boolean)) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined;
  }
  const extra = first.params?.['additionalProperty'];
  const what = `${ctx}${path} ${first.message ?? 'is invalid'}`;
  if (typeof extra === 'string') return `${what} (${JSON.stringify(extra)})`;
  if (value === undefined || (typeof value === 'object' && value !== null)) return what;
  return `${what} (got ${JSON.stringify(value)})`;
}

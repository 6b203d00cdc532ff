// Resource ids in the EC2 shape: a prefix and 17 lowercase hex digits (i-0123456789abcdef0, vol-…).
import { randomBytes } from 'node:crypto';

export const INSTANCE_ID_PATTERN = '^i-[0-9a-f]{17}$';
export const VOLUME_ID_PATTERN = '^vol-[0-9a-f]{17}$';

function hex17(): string {
  return randomBytes(9).toString('hex').slice(0, 17);
}

export function newInstanceId(): string {
  return `i-${hex17()}`;
}

export function newVolumeId(): string {
  return `vol-${hex17()}`;
}

const instanceIdRe = new RegExp(INSTANCE_ID_PATTERN);

export function isInstanceId(s: string): boolean {
  return instanceIdRe.test(s);
}

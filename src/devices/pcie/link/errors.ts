// Typed link errors (docs/link-protocol.md §6): an errno from LinkErrno, carried in ERROR replies and used to reject
// requests on timeouts and link-down.
import { LinkErrno } from './messages.ts';

const names = new Map<number, string>(Object.entries(LinkErrno).map(([k, v]) => [v, k]));

/** Name of an errno ("EFAULT"), or "E<n>" for a value outside the catalogue. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

export class LinkError extends Error {
  readonly errno: number;
  constructor(errno: number, message?: string) {
    super(message ?? errnoName(errno));
    this.name = 'LinkError';
    this.errno = errno;
  }
  get code(): string { return errnoName(this.errno); }
}

export function isLinkError(e: unknown): e is LinkError {
  return e instanceof LinkError;
}

// Management channel framing (docs/link-protocol.md §9): UTF-8 JSON in MGMT frames on fn 0xFFFF. The card sends
// MgmtRequests (non-posted, reply = MgmtReply); the hypervisor sends MgmtEvents (posted, msgId may be 0).
import { LinkError } from './errors.ts';
import { LinkErrno, type MgmtEvent, type MgmtReply, type MgmtRequest } from './messages.ts';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeMgmt(v: MgmtRequest | MgmtReply | MgmtEvent): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

/** Parse a MGMT payload into a JSON object; malformed UTF-8/JSON or a non-object → LinkError(EINVAL). */
export function decodeMgmtJson(payload: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(payload));
  } catch {
    throw new LinkError(LinkErrno.EINVAL, 'MGMT payload is not UTF-8 JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LinkError(LinkErrno.EINVAL, 'MGMT payload is not a JSON object');
  return v as Record<string, unknown>;
}

export function isMgmtRequest(v: Record<string, unknown>): v is MgmtRequest & Record<string, unknown> {
  return typeof v['op'] === 'string';
}

export function isMgmtEvent(v: Record<string, unknown>): v is MgmtEvent & Record<string, unknown> {
  return typeof v['event'] === 'string';
}

export function isMgmtReply(v: Record<string, unknown>): v is MgmtReply & Record<string, unknown> {
  return typeof v['ok'] === 'boolean';
}

// VERSION negotiation (docs/link-protocol.md §8): u16 major, u16 minor, then NUL-terminated JSON
// {"capabilities":{…}}. Major must match; the reply's minor ≤ proposed; capabilities are the agreed subset/minimum.
import { viewOf } from '../../layout.ts';
import { LinkError } from './errors.ts';
import { LINK_VERSION, LinkErrno, MAX_DATA_XFER } from './messages.ts';

export interface LinkCaps {
  /** Largest data count in one REGION/DMA read/write. */
  max_data_xfer_size: number;
  /** Most DMA windows per function. */
  max_dma_maps: number;
  /** Page sizes supported (bit mask, 4 KiB = 0x1000). */
  pgsizes: number;
}

export interface VersionInfo {
  major: number;
  minor: number;
  caps: LinkCaps;
}

export const DEFAULT_CAPS: LinkCaps = { max_data_xfer_size: MAX_DATA_XFER, max_dma_maps: 65535, pgsizes: 0x1000 };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeVersion(v: VersionInfo): Uint8Array {
  const json = enc.encode(JSON.stringify({ capabilities: v.caps }));
  const out = new Uint8Array(4 + json.byteLength + 1);
  const dv = viewOf(out);
  dv.setUint16(0, v.major, true);
  dv.setUint16(2, v.minor, true);
  out.set(json, 4); // trailing NUL already 0
  return out;
}

/** Parse a VERSION payload; missing capabilities take their defaults. Malformed → LinkError(EINVAL). */
export function decodeVersion(p: Uint8Array): VersionInfo {
  if (p.byteLength < 4) throw new LinkError(LinkErrno.EINVAL, 'VERSION payload shorter than 4 bytes');
  const dv = viewOf(p);
  const caps: LinkCaps = { ...DEFAULT_CAPS };
  let end = p.indexOf(0, 4);
  if (end < 0) end = p.byteLength;
  if (end > 4) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(dec.decode(p.subarray(4, end)));
    } catch {
      throw new LinkError(LinkErrno.EINVAL, 'VERSION capabilities are not JSON');
    }
    const c = (parsed as { capabilities?: Record<string, unknown> } | null)?.capabilities;
    if (c !== undefined && (typeof c !== 'object' || c === null)) throw new LinkError(LinkErrno.EINVAL, 'capabilities is not an object');
    for (const k of Object.keys(DEFAULT_CAPS) as (keyof LinkCaps)[]) {
      const v = c?.[k];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new LinkError(LinkErrno.EINVAL, `capability ${k} is not a positive integer`);
      caps[k] = v;
    }
  }
  return { major: dv.getUint16(0, true), minor: dv.getUint16(2, true), caps };
}

/** The card's answer to a proposal: same major, min of minors, min of limits, AND of page sizes. */
export function negotiateVersion(proposed: VersionInfo, ours: LinkCaps = DEFAULT_CAPS): VersionInfo {
  if (proposed.major !== LINK_VERSION.major) {
    throw new LinkError(LinkErrno.ENOTSUP, `link major ${proposed.major} != ${LINK_VERSION.major}`);
  }
  const pgsizes = proposed.caps.pgsizes & ours.pgsizes;
  if (pgsizes === 0) throw new LinkError(LinkErrno.ENOTSUP, 'no common page size');
  return {
    major: LINK_VERSION.major,
    minor: Math.min(proposed.minor, LINK_VERSION.minor),
    caps: {
      max_data_xfer_size: Math.min(proposed.caps.max_data_xfer_size, ours.max_data_xfer_size, MAX_DATA_XFER),
      max_dma_maps: Math.min(proposed.caps.max_dma_maps, ours.max_dma_maps),
      pgsizes,
    },
  };
}

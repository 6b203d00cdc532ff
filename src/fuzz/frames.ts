// Structure-aware link frames for the card fuzzer: each one is a well-formed frame of a real command (docs/
// link-protocol.md §4) with fields drawn from edge values, sometimes mutated at the byte level afterwards.
import { encodeFrame } from '../devices/pcie/link/codec.ts';
import { LINK_FN, LinkCmd, LinkFlag } from '../devices/pcie/link/messages.ts';
import type { Rng } from './rng.ts';

const CMDS = Object.values(LinkCmd) as number[];

/** A u64 as two u32 halves, sometimes ≥ 2^53 (ERANGE). */
function u64(r: Rng, v: DataView, at: number, small: () => number): void {
  const big = r.chance(0.15);
  const n = big ? r.u32() : small();
  v.setUint32(at, n >>> 0, true);
  v.setUint32(at + 4, big ? r.u32() : Math.floor(n / 2 ** 32), true);
}

function payloadFor(r: Rng, cmd: number): Uint8Array {
  const p = (n: number) => new Uint8Array(n);
  const offset = () => r.pick([0, 2, 4, 0x10, 0x14, 0x1c, 0x24, 0x28, 0x30, 0x1000, 0x1004, 0x1008, 0x100c, 0x2000, 0x3000, r.int(0x4000), r.u32()]);
  switch (cmd) {
    case LinkCmd.VERSION: {
      const json = r.pick(['{"capabilities":{}}', '{"capabilities":{"max_data_xfer_size":0}}', '{"capabilities":{"pgsizes":0,"max_dma_maps":-1}}',
        '{"capabilities":{"max_data_xfer_size":1e308}}', '{', 'null', '[]', '{"capabilities":"x"}', '']);
      const body = new TextEncoder().encode(json + (r.chance(0.8) ? '\0' : ''));
      const b = p(4 + body.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, r.pick([1, 1, 0, 2, r.u16()]), true);
      v.setUint16(2, r.pick([0, 1, r.u16()]), true);
      b.set(body, 4);
      return b;
    }
    case LinkCmd.REGION_READ:
    case LinkCmd.REGION_WRITE: {
      const count = r.pick([1, 2, 4, 4, 4, 8, 0, 3, r.u32()]);
      const dataLen = cmd === LinkCmd.REGION_WRITE ? (count <= 8 ? count : r.int(16)) : 0;
      const b = p(16 + dataLen);
      const v = new DataView(b.buffer);
      u64(r, v, 0, offset);
      v.setUint32(8, r.pick([0, 0, 0, 7, 7, 1, 4, 5, 6, 8, r.u32()]), true);
      v.setUint32(12, count >>> 0, true);
      for (let i = 0; i < dataLen; i++) b[16 + i] = r.u8();
      return b;
    }
    case LinkCmd.DMA_MAP: {
      const b = p(32);
      const v = new DataView(b.buffer);
      v.setUint32(0, r.pick([1, 2, 3, 0, r.u32()]), true);
      v.setUint32(4, r.pick([0, 1, 2, r.u32()]), true);
      u64(r, v, 8, () => r.pick([0, 0x1000, 0x100000, r.u32()]));
      u64(r, v, 16, () => r.pick([0, 1, 0x1000, 0x10000, 1 << 30, r.u32()]));
      u64(r, v, 24, () => r.pick([0, 0x4000, r.u32()]));
      return b;
    }
    case LinkCmd.DMA_UNMAP: {
      const b = p(24);
      const v = new DataView(b.buffer);
      u64(r, v, 8, () => r.pick([0, 0x1000, 0x100000, r.u32()]));
      u64(r, v, 16, () => r.pick([0, 0x1000, 0x10000, r.u32()]));
      return b;
    }
    case LinkCmd.DMA_READ:
    case LinkCmd.DMA_WRITE: {
      const b = p(16 + r.int(64));
      const v = new DataView(b.buffer);
      u64(r, v, 0, () => r.u32());
      u64(r, v, 8, () => r.int(128));
      return b;
    }
    case LinkCmd.MSIX: return r.bytes(r.pick([16, 0, 8, 24]));
    case LinkCmd.MGMT: {
      const json = r.pick([
        '{"event":"console","vmId":"i-0123456789abcdef0","data":"x"}',
        '{"event":"vm-state","vmId":"i-00000000","state":"crashed","reason":"fuzz"}',
        '{"event":"vm-state","vmId":null,"state":7}',
        '{"event":"nope"}', '{"op":"stats"}', '{"ok":true}', '{}', '[]', '"x"', '1', 'null', '{"event":', '\u0000', '',
        '{"event":"console","vmId":"' + 'a'.repeat(r.int(3000)) + '","data":' + JSON.stringify('y'.repeat(r.int(3000))) + '}',
        '{"__proto__":{"polluted":1},"event":"console"}',
      ]);
      return new TextEncoder().encode(json);
    }
    default:
      return r.chance(0.7) ? p(0) : r.bytes(r.int(48));
  }
}

/** One frame from the host side: a real command, a known fn, plausible flags — or not. */
export function structuredFrame(r: Rng, fns: readonly number[]): Uint8Array {
  const cmd = r.chance(0.9) ? r.pick(CMDS) : r.u16();
  const fn = r.chance(0.85) ? r.pick([LINK_FN, ...fns, ...fns]) : r.u16();
  const flags = r.pick([0, 0, 0, LinkFlag.NO_REPLY, LinkFlag.NO_REPLY, LinkFlag.REPLY, LinkFlag.ERROR, LinkFlag.REPLY | LinkFlag.ERROR, r.u16()]);
  const frame = encodeFrame({
    msgId: r.chance(0.1) ? 0 : r.u32(), cmd, fn, flags,
    error: flags & LinkFlag.ERROR ? r.int(120) : 0,
    payload: payloadFor(r, cmd),
  });
  return r.chance(0.2) ? r.mutate(frame) : frame;
}

/** Unstructured bytes: header-sized noise, or noise behind a valid-looking size field. */
export function rawBytes(r: Rng): Uint8Array {
  const b = r.bytes(r.pick([1, 8, 15, 16, 17, 32, 100, 1000]));
  if (b.length >= 16 && r.chance(0.5)) new DataView(b.buffer).setUint32(8, b.length, true);
  return b;
}

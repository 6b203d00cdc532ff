// CAP-PCAP-*: a capture file the card wrote (--pcap FILE) opens in tshark/Wireshark: global header and records as
// pcap-savefile(5) defines them (specs.md §7.3).
import { readFileSync } from 'node:fs';
import type { SuiteContext } from '../context.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';

const S73 = 'specs.md §7.3 pcap';

interface Parsed { le: boolean; nano: boolean; snaplen: number; linktype: number; records: { sec: number; sub: number; incl: number; orig: number; at: number }[]; trailing: number }

function load(ctx: SuiteContext): Buffer {
  if (ctx.opts.pcapFile === undefined) throw new Skip('no --pcap FILE given');
  return readFileSync(ctx.opts.pcapFile);
}

export function parsePcap(b: Buffer): Parsed {
  check(b.length >= 24, `file of ${b.length} bytes is shorter than the 24-byte global header`);
  const m = b.readUInt32LE(0);
  const le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
  const be = b.readUInt32BE(0) === 0xa1b2c3d4 || b.readUInt32BE(0) === 0xa1b23c4d;
  check(le || be, `magic ${hex(m)} is not a pcap magic`);
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const nano = (le ? m : b.readUInt32BE(0)) === 0xa1b23c4d;
  const out: Parsed = { le, nano, snaplen: u32(16), linktype: u32(20), records: [], trailing: 0 };
  let at = 24;
  while (at + 16 <= b.length) {
    const r = { sec: u32(at), sub: u32(at + 4), incl: u32(at + 8), orig: u32(at + 12), at };
    if (at + 16 + r.incl > b.length) break;
    out.records.push(r);
    at += 16 + r.incl;
  }
  out.trailing = b.length - at;
  return out;
}

export const CAP_PCAP_CASES = defineGroup('CAP-PCAP', [
  { n: 1, level: 'M', clause: `${S73} global header`, title: 'the global header has a pcap magic, version 2.4 and zero thiszone/sigfigs',
    async run(ctx) {
      const b = load(ctx);
      const p = parsePcap(b);
      const major = p.le ? b.readUInt16LE(4) : b.readUInt16BE(4);
      const minor = p.le ? b.readUInt16LE(6) : b.readUInt16BE(6);
      check(major === 2 && minor === 4, `version ${major}.${minor}`);
      check(b.readUInt32LE(8) === 0 && b.readUInt32LE(12) === 0, 'thiszone/sigfigs not 0');
      check(p.snaplen > 0, 'snaplen is 0');
    } },
  { n: 2, level: 'M', clause: `${S73} LinkType`, title: 'the link type is Ethernet (1) or raw IP (101) with FCS bits 31:28 clear',
    async run(ctx) {
      const p = parsePcap(load(ctx));
      check((p.linktype & 0x0fff_ffff) === 1 || (p.linktype & 0x0fff_ffff) === 101, `linktype ${p.linktype & 0x0fff_ffff}`);
      check((p.linktype >>> 28) === 0, `FCS bits ${hex(p.linktype >>> 28)}`);
    } },
  { n: 3, level: 'M', clause: `${S73} record header`, title: 'every record has incl_len ≤ snaplen and ≤ orig_len, a valid sub-second field, and the file ends on a record boundary',
    async run(ctx) {
      const p = parsePcap(load(ctx));
      check(p.trailing === 0, `${p.trailing} trailing bytes do not form a record`);
      for (const [i, r] of p.records.entries()) {
        check(r.incl <= p.snaplen, `record ${i}: incl_len ${r.incl} > snaplen ${p.snaplen}`);
        check(r.incl <= r.orig, `record ${i}: incl_len ${r.incl} > orig_len ${r.orig}`);
        check(r.sub < (p.nano ? 1e9 : 1e6), `record ${i}: sub-second field ${r.sub}`);
      }
    } },
  { n: 4, level: 'O', clause: `${S73} record order`, title: 'record timestamps never go backwards',
    async run(ctx) {
      const p = parsePcap(load(ctx));
      for (let i = 1; i < p.records.length; i++) {
        const a = p.records[i - 1];
        const b = p.records[i];
        if (a === undefined || b === undefined) continue;
        check(b.sec > a.sec || (b.sec === a.sec && b.sub >= a.sub), `record ${i} is earlier than record ${i - 1}`);
      }
    } },
  { n: 5, level: 'O', clause: `${S73} "store frames without FCS"; Ethernet`, title: 'with LinkType 1 every frame holds at least an Ethernet header (14 bytes)',
    async run(ctx) {
      const p = parsePcap(load(ctx));
      if ((p.linktype & 0x0fff_ffff) !== 1) throw new Skip('not an Ethernet capture');
      for (const [i, r] of p.records.entries()) check(r.incl >= 14, `record ${i}: ${r.incl} bytes`);
    } },
]);

// Identify layouts against specs.md §2.10 / §2.11, and the builders.
import t from 'tap';
import { IdCtrl, IdNs, Psd, buildActiveNsList, putAscii } from '../../../src/devices/nvme/identify.ts';

t.test('Identify Controller field offsets match specs.md §2.10', async (t) => {
  const O = IdCtrl.offset;
  t.equal(IdCtrl.size, 4096);
  const want: Record<string, number> = {
    vid: 0, ssvid: 2, sn: 4, mn: 24, fr: 64, rab: 72, ieee: 73, cmic: 76, mdts: 77, cntlid: 78, ver: 80, rtd3r: 84,
    rtd3e: 88, oaes: 92, ctratt: 96, cntrltype: 111, oacs: 256, acl: 258, aerl: 259, frmw: 260, lpa: 261, elpe: 262,
    npss: 263, wctemp: 266, cctemp: 268, sqes: 512, cqes: 513, maxcmd: 514, nn: 516, oncs: 520, fuses: 522, fna: 524,
    vwc: 525, awun: 526, awupf: 528, sgls: 536, subnqn: 768, psd0: 2048, vs: 3072,
  };
  for (const [k, v] of Object.entries(want)) t.equal(O[k as keyof typeof O], v, k);
  t.same([Psd.offset.mp, Psd.offset.enlat, Psd.offset.exlat], [0, 4, 8]);
});

t.test('Identify Namespace field offsets match specs.md §2.11', async (t) => {
  const O = IdNs.offset;
  t.equal(IdNs.size, 4096);
  const want: Record<string, number> = {
    nsze: 0, ncap: 8, nuse: 16, nsfeat: 24, nlbaf: 25, flbas: 26, mc: 27, dpc: 28, dps: 29, nmic: 30, dlfeat: 33,
    nawun: 34, noiob: 46, nvmcap: 48, anagrpid: 92, nguid: 104, eui64: 120, lbaf: 128, vs: 384,
  };
  for (const [k, v] of Object.entries(want)) t.equal(O[k as keyof typeof O], v, k);
});

t.test('ASCII fields are space-padded, never NUL', async (t) => {
  const b = new Uint8Array(10);
  putAscii(b, 2, 6, 'abc\u00e9');
  t.same([...b], [0, 0, 0x61, 0x62, 0x63, 0x20, 0x20, 0x20, 0, 0]);
});

t.test('active NSID list is ascending and capped at 1024 entries', async (t) => {
  const b = new Uint8Array(4096);
  buildActiveNsList(Array.from({ length: 1100 }, (_, i) => 1100 - i), 0, b);
  const v = new DataView(b.buffer);
  t.equal(v.getUint32(0, true), 1);
  t.equal(v.getUint32(4092, true), 1024);
});

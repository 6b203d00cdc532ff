// PCI-CFG-*: the type-0 header, RO/RW masks, BAR sizing and the capability lists (specs.md §1.1–§1.4, pci_regs.h),
// checked on every function the suite found.
import { CapId, FIRST_CAP_OFFSET, walkCapabilities, walkExtendedCapabilities, ExpressCap } from '../../devices/pcie/capabilities.ts';
import { BarBits, Command, Status, Type0Header, barRegOffset } from '../../devices/pcie/config-space.ts';
import type { RootComplex } from '../../devices/pcie/link/root-complex.ts';
import type { SuiteContext } from '../context.ts';
import type { FnInfo } from '../session.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';

const H = Type0Header.offset;
const S11 = 'specs.md §1.1 (pci_regs.h type-0 header)';

async function each(ctx: SuiteContext, body: (rc: RootComplex, f: FnInfo) => Promise<void>): Promise<void> {
  if (ctx.functions.length === 0) throw new Skip('no PCI function found on the card (see docs/conformance.md §3.2)');
  const rc = await ctx.io();
  for (const f of ctx.functions) {
    await rc.reset(f.fn);
    await body(rc, f);
  }
}

export async function readConfig(rc: RootComplex, fn: number, len = 256): Promise<Uint8Array> {
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  for (let o = 0; o < len; o += 4) v.setUint32(o, await rc.configRead(fn, o, 4), true);
  return b;
}

export interface BarSize { index: number; size: number; is64: boolean; io: boolean }

/** Size every BAR as a driver does (specs.md §1.3), restoring each afterwards. */
export async function sizeBars(rc: RootComplex, fn: number): Promise<BarSize[]> {
  const out: BarSize[] = [];
  for (let i = 0; i < 6; i++) {
    const off = barRegOffset(i);
    const orig = await rc.configRead(fn, off, 4);
    await rc.configWrite(fn, off, 4, 0xffff_ffff);
    const lo = await rc.configRead(fn, off, 4);
    await rc.configWrite(fn, off, 4, orig);
    if (lo === 0) continue;
    const io = (lo & 1) === 1;
    const is64 = !io && (lo & 0b110) === BarBits.TYPE_64;
    let size: number;
    if (is64) {
      const origHi = await rc.configRead(fn, off + 4, 4);
      await rc.configWrite(fn, off + 4, 4, 0xffff_ffff);
      const hi = await rc.configRead(fn, off + 4, 4);
      await rc.configWrite(fn, off + 4, 4, origHi);
      const mask = (BigInt(hi >>> 0) << 32n) | BigInt((lo & ~0xf) >>> 0);
      size = Number(((~mask) & 0xffff_ffff_ffff_ffffn) + 1n);
    } else {
      size = ((~(lo & (io ? ~0x3 : ~0xf))) >>> 0) + 1;
    }
    out.push({ index: i, size, is64, io });
    if (is64) i++;
  }
  return out;
}

export const PCI_CFG_CASES = defineGroup('PCI-CFG', [
  { n: 1, level: 'M', clause: `${S11} 0x00/0x02/0x0E`, title: 'Vendor ID is a real vendor (not 0xFFFF/0x0000) and the header type is 0',
    run: (ctx) => each(ctx, async (rc, f) => {
      check(f.vendorId !== 0xffff && f.vendorId !== 0, `fn ${f.fn}: Vendor ID ${hex(f.vendorId, 4)}`);
      const ht = await rc.configRead(f.fn, H.headerType, 1);
      check((ht & 0x7f) === 0, `fn ${f.fn}: header type ${hex(ht, 2)} is not type 0`);
    }) },
  { n: 2, level: 'M', clause: 'specs.md §1.7, §2.1 (class 01/08/02 for NVMe)', title: 'an NVMe function reports class code 0x010802',
    async run(ctx) {
      const f = ctx.nvmeFn();
      check(f.classCode === 0x010802, `class ${hex(f.classCode, 6)}`);
    } },
  { n: 3, level: 'M', clause: `${S11} RO fields`, title: 'writes to Vendor/Device ID, Revision/Class, Header Type and Subsystem IDs are ignored',
    run: (ctx) => each(ctx, async (rc, f) => {
      for (const [off, size] of [[H.vendorId, 4], [H.revisionId, 4], [H.headerType, 1], [H.subsystemVendorId, 4], [H.capabilitiesPtr, 1]] as const) {
        const before = await rc.configRead(f.fn, off, size);
        await rc.configWrite(f.fn, off, size, size === 1 ? (~before & 0xff) : ~before >>> 0);
        const after = await rc.configRead(f.fn, off, size);
        check(after === before, `fn ${f.fn}: offset ${hex(off, 2)} changed ${hex(before)} → ${hex(after)} on write`);
      }
    }) },
  { n: 4, level: 'M', clause: 'specs.md §1.2 Status bit 4 (RO), §1.4', title: 'Status.Capabilities List is 1, stays 1 when written, and 0x34 points into 0x40–0xFF',
    run: (ctx) => each(ctx, async (rc, f) => {
      const st = await rc.configRead(f.fn, H.status, 2);
      check((st & Status.CAP_LIST) !== 0, `fn ${f.fn}: Status ${hex(st, 4)} lacks Capabilities List`);
      await rc.configWrite(f.fn, H.status, 2, 0);
      check((await rc.configRead(f.fn, H.status, 2) & Status.CAP_LIST) !== 0, `fn ${f.fn}: writing 0 to Status cleared the RO Capabilities List bit`);
      const ptr = await rc.configRead(f.fn, H.capabilitiesPtr, 1);
      check(ptr >= FIRST_CAP_OFFSET && ptr <= 0xfc && (ptr & 3) === 0, `fn ${f.fn}: capabilities pointer ${hex(ptr, 2)}`);
    }) },
  { n: 5, level: 'M', clause: 'specs.md §1.3 BAR sizing', title: 'every implemented BAR sizes to a power of two (≥ 16 B memory), keeps its type bits and restores',
    run: (ctx) => each(ctx, async (rc, f) => {
      const before = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => rc.configRead(f.fn, barRegOffset(i), 4)));
      const bars = await sizeBars(rc, f.fn);
      check(bars.length > 0, `fn ${f.fn}: no BAR decodes`);
      for (const b of bars) {
        check(Number.isInteger(Math.log2(b.size)), `fn ${f.fn} BAR${b.index}: size ${hex(b.size)} is not a power of two`);
        check(b.io ? b.size >= 4 : b.size >= 16, `fn ${f.fn} BAR${b.index}: size ${b.size} too small`);
      }
      const after = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => rc.configRead(f.fn, barRegOffset(i), 4)));
      check(after.join() === before.join(), `fn ${f.fn}: BARs not restored (${after.map((x) => hex(x)).join(' ')})`);
    }) },
  { n: 6, level: 'M', clause: 'specs.md §2.1 (BAR0/1 one 64-bit memory BAR)', title: "an NVMe function's BAR0 is a 64-bit memory BAR of at least 16 KiB",
    async run(ctx) {
      const f = ctx.nvmeFn();
      const rc = await ctx.io();
      const b = (await sizeBars(rc, f.fn)).find((x) => x.index === 0);
      check(b !== undefined, 'BAR0 is not implemented');
      check(!b.io && b.is64, `BAR0 is ${b.io ? 'I/O' : '32-bit'}`);
      check(b.size >= 0x4000, `BAR0 is ${hex(b.size)} bytes`);
    } },
  { n: 7, level: 'M', clause: 'specs.md §1.4 capability list', title: 'the capability walk ends (next = 0) with DWORD-aligned pointers inside 0x40–0xFF and no loop',
    run: (ctx) => each(ctx, async (rc, f) => {
      const cfg = await readConfig(rc, f.fn);
      const seen = new Set<number>();
      let at = (cfg[H.capabilitiesPtr] ?? 0);
      while (at !== 0) {
        check((at & 3) === 0 && at >= FIRST_CAP_OFFSET && at <= 0xfc, `fn ${f.fn}: capability pointer ${hex(at, 2)}`);
        check(!seen.has(at), `fn ${f.fn}: the list loops back to ${hex(at, 2)}`);
        seen.add(at);
        at = cfg[at + 1] ?? 0;
      }
    }) },
  { n: 8, level: 'M', clause: 'specs.md §1.4 (PCI Express cap 0x10), §1.5 (MSI-X 0x11), §2.1', title: 'the list holds a PCI Express capability (v2) and an MSI-X capability',
    run: (ctx) => each(ctx, async (rc, f) => {
      const cfg = await readConfig(rc, f.fn);
      const caps = walkCapabilities((o) => cfg[o] ?? 0);
      const exp = caps.find((c) => c.id === CapId.PCI_EXPRESS);
      check(exp !== undefined, `fn ${f.fn}: no PCI Express capability (ids ${caps.map((c) => hex(c.id, 2)).join(',')})`);
      check(caps.some((c) => c.id === CapId.MSIX), `fn ${f.fn}: no MSI-X capability`);
      const pcieCap = new DataView(cfg.buffer).getUint16(exp.offset + ExpressCap.offset.pcieCap, true);
      check((pcieCap & 0xf) === 2, `fn ${f.fn}: PCI Express capability version ${pcieCap & 0xf}`);
      check([0, 9].includes((pcieCap >> 4) & 0xf), `fn ${f.fn}: device/port type ${(pcieCap >> 4) & 0xf} is not an endpoint`);
    }) },
  { n: 9, level: 'M', clause: `${S11} reserved 0x35–0x3B; §1.4 extended list`, title: 'reserved header bytes read 0 and the extended list is empty (0) or well formed',
    run: (ctx) => each(ctx, async (rc, f) => {
      for (let o = 0x35; o <= 0x3b; o++) {
        const v = await rc.configRead(f.fn, o, 1);
        check(v === 0, `fn ${f.fn}: reserved byte ${hex(o, 2)} reads ${hex(v, 2)}`);
      }
      const ext = [];
      const cache = new Map<number, number>();
      const read = (o: number): number => cache.get(o) ?? 0;
      for (let o = 0x100; o < 0x1000; o += 4) cache.set(o, await rc.configRead(f.fn, o, 4));
      for (const c of walkExtendedCapabilities(read)) ext.push(c);
      check(ext.length < 960, `fn ${f.fn}: the extended list does not end`);
      const last = await rc.configRead(f.fn, 0xffc, 4);
      check(ext.some((c) => c.offset >= 0xf00) || last === 0, `fn ${f.fn}: unused config dword 0xFFC reads ${hex(last)}`);
    }) },
  { n: 10, level: 'M', clause: 'specs.md §1.2 Command', title: 'Command Memory Space and Bus Master are RW; a function reset returns Command to 0',
    run: (ctx) => each(ctx, async (rc, f) => {
      await rc.configWrite(f.fn, H.command, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
      const v = await rc.configRead(f.fn, H.command, 2);
      check((v & 0b110) === 0b110, `fn ${f.fn}: Command reads ${hex(v, 4)} after writing MEM|BME`);
      await rc.reset(f.fn);
      const r = await rc.configRead(f.fn, H.command, 2);
      check(r === 0, `fn ${f.fn}: Command reads ${hex(r, 4)} after DEVICE_RESET`);
    }) },
  { n: 11, level: 'O', clause: `${S11} 0x3C Interrupt Line`, title: 'Interrupt Line is a RW scratch register',
    run: (ctx) => each(ctx, async (rc, f) => {
      await rc.configWrite(f.fn, H.interruptLine, 1, 0x5a);
      const v = await rc.configRead(f.fn, H.interruptLine, 1);
      check(v === 0x5a, `fn ${f.fn}: Interrupt Line reads ${hex(v, 2)} after writing 0x5a`);
    }) },
  { n: 12, level: 'O', clause: 'specs.md §1.2 Status RW1C', title: 'writing 1s to the Status error bits does not set them',
    run: (ctx) => each(ctx, async (rc, f) => {
      await rc.configWrite(f.fn, H.status, 2, 0xf900);
      const v = await rc.configRead(f.fn, H.status, 2);
      check((v & 0xf900) === 0, `fn ${f.fn}: Status ${hex(v, 4)} after writing 1s to clear error bits`);
    }) },
]);

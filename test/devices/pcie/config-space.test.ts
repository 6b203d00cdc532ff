// Type-0 header layout against specs.md §1.1, write masks (RO/RW/RW1C) and BAR encoding against §1.3.
import t from 'tap';
import {
  barRegOffset, BarBits, Command, COMMAND_RW_MASK, ConfigSpace, defineType0Header, encodeBar, Status, touches, Type0Header,
} from '../../../src/devices/pcie/config-space.ts';
import type { BarDecl } from '../../../src/devices/contract.ts';

const region = { read: () => 0, write: () => {} };
const bar = (index: number, size: number, is64: boolean, prefetchable: boolean): BarDecl => ({ index, size, is64, prefetchable, region });

t.test('type-0 header fields sit at the offsets of specs.md §1.1', async (t) => {
  t.equal(Type0Header.size, 64);
  t.same(Type0Header.offset, {
    vendorId: 0x00, deviceId: 0x02, command: 0x04, status: 0x06, revisionId: 0x08, progIf: 0x09, subClass: 0x0a,
    baseClass: 0x0b, cacheLineSize: 0x0c, latencyTimer: 0x0d, headerType: 0x0e, bist: 0x0f,
    bar0: 0x10, bar1: 0x14, bar2: 0x18, bar3: 0x1c, bar4: 0x20, bar5: 0x24, cardbusCis: 0x28,
    subsystemVendorId: 0x2c, subsystemId: 0x2e, expansionRom: 0x30, capabilitiesPtr: 0x34, rsvd35: 0x35,
    interruptLine: 0x3c, interruptPin: 0x3d, minGnt: 0x3e, maxLat: 0x3f,
  });
  t.equal(barRegOffset(5), 0x24);
});

t.test('Command RW bits are 0,1,2,6,8,10 and Status RW1C bits are 8 and 11–15 (specs.md §1.2)', async (t) => {
  t.equal(COMMAND_RW_MASK, 0b0000_0101_0100_0111);
  t.same([Command.IO_SPACE, Command.MEMORY_SPACE, Command.BUS_MASTER], [1, 2, 4]);
  t.equal(Command.INTX_DISABLE, 0x400);
  t.equal(Status.CAP_LIST, 0x10);
  t.equal(Status.INTERRUPT_STATUS, 0x08);
  t.equal(Status.ERROR_BITS_RW1C, (1 << 8) | (0b11111 << 11));
});

t.test('a write applies the RW mask per byte and clears RW1C bits written as 1', async (t) => {
  const cs = new ConfigSpace();
  cs.define(0x40, 4, { value: 0x1234_00f0, rw: 0x0000_ff00, rw1c: 0x0000_00f0 });
  cs.write(0x40, 4, 0xffff_ff30);
  t.equal(cs.read(0x40, 4), 0x1234_ffc0, 'RO bytes kept, RW byte taken, RW1C bits 4,5 cleared');
  cs.write(0x41, 1, 0x5a);
  t.equal(cs.read(0x40, 2), 0x5ac0, 'byte write lands in the right lane');
  t.equal(cs.read(0x44, 4), 0, 'undefined bytes read 0');
  cs.write(0x44, 4, 0xffff_ffff);
  t.equal(cs.read(0x44, 4), 0, 'and ignore writes');
});

t.test('restore returns every byte to the sealed image', async (t) => {
  const cs = new ConfigSpace();
  cs.define(0x04, 2, { value: 0, rw: 0xffff });
  cs.seal();
  cs.write(0x04, 2, 0xbeef);
  cs.restore();
  t.equal(cs.read(0x04, 2), 0);
});

t.test('worked example: a 16 KiB 64-bit non-prefetchable BAR sizes to 0xFFFFC004 / 0xFFFFFFFF', async (t) => {
  const cs = new ConfigSpace();
  defineType0Header(cs, { vendorId: 1, deviceId: 2, subsystemVendorId: 3, subsystemId: 4, revisionId: 5, classCode: 0x010802 },
    [bar(0, 0x4000, true, false), bar(2, 0x10_0000, false, true)], { interruptPin: 0, capabilitiesPtr: 0x40 });
  t.equal(cs.read(0x10, 4), 0x0000_0004, 'reset value shows the 64-bit type');
  cs.write(0x10, 4, 0xffff_ffff);
  cs.write(0x14, 4, 0xffff_ffff);
  t.equal(cs.read(0x10, 4), 0xffff_c004);
  t.equal(cs.read(0x14, 4), 0xffff_ffff);
  cs.write(0x18, 4, 0xffff_ffff);
  t.equal(cs.read(0x18, 4), 0xfff0_0008, 'a 1 MiB 32-bit prefetchable BAR reads back 0xFFF00008');
  t.equal(cs.read(0x09, 1), 0x02, 'prog-if');
  t.equal(cs.read(0x0a, 2), 0x0108, 'sub-class and base class');
  t.equal(cs.read(0x06, 2), Status.CAP_LIST);
});

t.test('encodeBar hard-wires address bits below log2(size) and keeps type bits read-only', async (t) => {
  t.same(encodeBar(bar(0, 16, false, false)), { low: { init: 0, writeMask: 0xffff_fff0 } });
  t.same(encodeBar(bar(0, 0x1000, false, true)), { low: { init: BarBits.PREFETCHABLE, writeMask: 0xffff_f000 } });
  t.same(encodeBar(bar(0, 2 ** 33, true, true)), {
    low: { init: BarBits.TYPE_64 | BarBits.PREFETCHABLE, writeMask: 0 },
    high: { init: 0, writeMask: 0xffff_fffe },
  }, 'an 8 GiB BAR sizes through its upper half');
});

t.test('defineType0Header rejects an identity that does not fit its registers', async (t) => {
  const id = { vendorId: 0xffff, deviceId: 0, subsystemVendorId: 0, subsystemId: 0, revisionId: 0, classCode: 0 };
  t.throws(() => defineType0Header(new ConfigSpace(), id, [], { interruptPin: 0, capabilitiesPtr: 0x40 }), /vendorId/);
  t.throws(() => defineType0Header(new ConfigSpace(), { ...id, vendorId: 1, classCode: 0x1_000000 }, [], { interruptPin: 0, capabilitiesPtr: 0 }), /classCode/);
});

t.test('touches tells whether an access overlaps a register', async (t) => {
  t.ok(touches(0x04, 4, 0x06, 2));
  t.notOk(touches(0x04, 2, 0x06, 2));
  t.ok(touches(0x07, 1, 0x06, 2));
});

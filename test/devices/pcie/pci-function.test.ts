// PciFunction: the stand-in device through the shared contract, Command gating, BAR routing, FLR and model checks.
import t from 'tap';
import { PciFunction, validateModel } from '../../../src/devices/pcie/pci-function.ts';
import { Command, Type0Header } from '../../../src/devices/pcie/config-space.ts';
import { Express, ExpressCap, MsixCap, MsixControl, PmCap } from '../../../src/devices/pcie/capabilities.ts';
import { MsixTableEntry } from '../../../src/devices/pcie/msix.ts';
import type { PciDeviceModel } from '../../../src/devices/contract.ts';
import { buildRig, runDeviceContract, type ContractRig } from '../../helpers/device-contract.ts';
import { FakeHost } from '../../helpers/fake-host.ts';
import { makeStandInDevice, STAND_IN_ID, StandInReg, type StandInDevice } from './stand-in-device.ts';

const H = Type0Header.offset;
const E = MsixTableEntry.offset;
const TABLE = 0x2000;
const PBA = 0x3000;

function rig(): ContractRig & { dev: StandInDevice } {
  const r = buildRig((ctx) => makeStandInDevice(ctx));
  return { ...r, dev: r.model as StandInDevice };
}

function enable(r: ContractRig, bits: number = Command.MEMORY_SPACE | Command.BUS_MASTER): void {
  r.fn.configWrite(H.command, 2, bits);
}

function msixCap(r: ContractRig): number {
  const at = r.fn.capabilities?.msix;
  if (at == null) throw new Error('stand-in has MSI-X');
  return at;
}

/** Program vector n (address, data), unmask it, and turn MSI-X on. */
function programVector(r: ContractRig, n: number, address: number, data: number): void {
  r.fn.barWrite(0, TABLE + 16 * n + E.addressLo, 4, address);
  r.fn.barWrite(0, TABLE + 16 * n + E.addressHi, 4, 0);
  r.fn.barWrite(0, TABLE + 16 * n + E.data, 4, data);
  r.fn.barWrite(0, TABLE + 16 * n + E.vectorControl, 4, 0);
  r.fn.configWrite(msixCap(r) + MsixCap.offset.messageControl, 2, MsixControl.ENABLE);
}

t.test('the stand-in device passes the shared device contract', async (t) => {
  await runDeviceContract(t, (ctx) => makeStandInDevice(ctx), {
    unknownBarOffsets: [{ bar: 0, offset: 0x100 }, { bar: 0, offset: 0x1ffc }, { bar: 2, offset: 0 }],
  });
});

t.test('a stand-in without extra capabilities and with 70 vectors (two PBA qwords) also passes', async (t) => {
  await runDeviceContract(t, (ctx) => makeStandInDevice(ctx, { msixVectors: 70, extraCapabilities: [] }), { seed: 7 });
});

t.test('Command keeps only bits 0,1,2,6,8,10 and drives busMaster / memoryEnabled', async (t) => {
  const r = rig();
  r.fn.configWrite(H.command, 2, 0xffff);
  t.equal(r.fn.configRead(H.command, 2), 0b101_0100_0111);
  t.ok(r.fn.busMaster);
  t.ok(r.fn.memoryEnabled);
  r.fn.configWrite(H.command, 2, Command.MEMORY_SPACE);
  t.notOk(r.fn.busMaster);
  t.same(r.dev.busMasterLog, [true, false], 'the model hears each Bus Master change once');
  r.fn.configWrite(H.command, 1, Command.MEMORY_SPACE);
  t.same(r.dev.busMasterLog, [true, false], 'no call when Bus Master does not change');
});

t.test('Status error bits are RW1C and Capabilities List is read-only', async (t) => {
  const r = rig();
  r.fn.configWrite(H.status, 2, 0xffff);
  t.equal(r.fn.configRead(H.status, 2), 0x0010);
});

t.test('with Memory Space = 0 BAR reads return all-ones and writes are dropped, counted', async (t) => {
  const r = rig();
  t.equal(r.fn.barRead(0, StandInReg.ID, 4), 0xffff_ffff);
  r.fn.barWrite(0, StandInReg.SCRATCH, 4, 0x1234);
  t.equal(r.dev.scratch, 0, 'the write never reached the device');
  t.equal(r.host.counters.get('pci_bar_access_memory_disabled_total'), 2);
  t.ok(r.host.events().includes('pci-bar-access-memory-disabled'));
  enable(r, Command.MEMORY_SPACE);
  t.equal(r.fn.barRead(0, StandInReg.ID, 4), STAND_IN_ID);
  t.equal(r.fn.barRead(0, StandInReg.ID + 2, 2), STAND_IN_ID >>> 16, 'narrow reads reach the device');
});

t.test('BAR accesses to undeclared BARs, past the end, misaligned or of bad size answer all-ones and are counted', async (t) => {
  const r = rig();
  enable(r);
  t.equal(r.fn.barRead(1, 0, 4), 0xffff_ffff, 'BAR1 is the upper half of BAR0, not a BAR');
  t.equal(r.fn.barRead(5, 0, 4), 0xffff_ffff);
  t.equal(r.fn.barRead(0, 0x4000, 4), 0xffff_ffff, 'past the end of BAR0');
  t.equal(r.fn.barRead(0, 2, 4), 0xffff_ffff, 'misaligned');
  t.equal(r.fn.barRead(0, 0, 8), 0xffff_ffff, '8-byte access');
  r.fn.barWrite(0, StandInReg.SCRATCH + 1, 4, 5);
  t.equal(r.dev.scratch, 0);
  t.equal(r.host.counters.get('pci_bar_bad_access_total'), 6);
});

t.test('MSI-X table and PBA accesses never reach the device region', async (t) => {
  const r = rig();
  enable(r);
  const seen: number[] = [];
  const region = r.dev.bars[0]?.region;
  if (!region) throw new Error('stand-in has BAR0');
  const inner = region.read.bind(region);
  (region as { read: typeof region.read }).read = (o, s) => (seen.push(o), inner(o, s));
  t.equal(r.fn.barRead(0, TABLE + E.vectorControl, 4), 1, 'Vector Control resets to masked');
  t.equal(r.fn.barRead(0, PBA, 4), 0);
  t.same(seen, []);
  r.fn.barRead(0, StandInReg.ID, 4);
  t.same(seen, [StandInReg.ID]);
});

t.test('a device raise goes out as the programmed MSI-X message', async (t) => {
  const r = rig();
  enable(r);
  programVector(r, 2, 0xfee0_0000, 0x4041);
  r.fn.barWrite(0, StandInReg.RAISE, 4, 2);
  t.same(r.msis, [{ address: 0xfee0_0000, data: 0x4041, vector: 2 }]);
});

t.test('Function Mask holds the message in the PBA until it is cleared', async (t) => {
  const r = rig();
  enable(r);
  programVector(r, 1, 0xfee0_1000, 7);
  const mc = msixCap(r) + MsixCap.offset.messageControl;
  r.fn.configWrite(mc, 2, MsixControl.ENABLE | MsixControl.FUNCTION_MASK);
  r.fn.irq.raise(1);
  t.same(r.msis, []);
  t.equal(r.fn.barRead(0, PBA, 4), 0b10, 'PBA bit 1 set');
  r.fn.configWrite(mc, 2, MsixControl.ENABLE);
  t.same(r.msis, [{ address: 0xfee0_1000, data: 7, vector: 1 }]);
  t.equal(r.fn.barRead(0, PBA, 4), 0, 'PBA bit cleared');
});

t.test('Bus Master off: no message is sent; back on with a pending bit sends it', async (t) => {
  const r = rig();
  enable(r);
  programVector(r, 0, 0xfee0_0000, 1);
  r.fn.barWrite(0, TABLE + E.vectorControl, 4, 1);
  r.fn.irq.raise(0);
  enable(r, Command.MEMORY_SPACE);
  r.fn.barWrite(0, TABLE + E.vectorControl, 4, 0);
  t.same(r.msis, [], 'unmasked but Bus Master is off: still pending');
  t.equal(r.fn.msixVector(0)?.pending, true);
  enable(r);
  t.same(r.msis, [{ address: 0xfee0_0000, data: 1, vector: 0 }]);
  r.fn.configWrite(H.command, 2, Command.MEMORY_SPACE);
  r.fn.irq.raise(0);
  t.equal(r.msis.length, 1, 'a raise with Bus Master off is dropped');
  t.equal(r.fn.msixVector(0)?.pending, false);
});

t.test('writing DevCtl.Initiate FLR resets config space, MSI-X and the model', async (t) => {
  const r = rig();
  enable(r);
  programVector(r, 0, 0xfee0_0000, 1);
  r.fn.barWrite(0, StandInReg.SCRATCH, 4, 99);
  r.fn.configWrite(0x10, 4, 0xfebf_0000);
  const devCtl = (r.fn.capabilities?.express ?? 0) + ExpressCap.offset.devCtl;
  r.fn.configWrite(devCtl, 2, Express.DEVCTL_INITIATE_FLR | Express.DEVCTL_RESET);
  t.equal(r.dev.resets, 1, 'model.reset() ran');
  t.equal(r.dev.scratch, 0);
  t.equal(r.fn.configRead(H.command, 2), 0);
  t.notOk(r.fn.busMaster);
  t.equal(r.fn.configRead(0x10, 4), 0b100, 'BAR0 address cleared');
  t.equal(r.fn.configRead(devCtl, 2), Express.DEVCTL_RESET, 'Initiate FLR reads back 0');
  t.equal(r.fn.configRead(msixCap(r) + MsixCap.offset.messageControl, 2), 3, 'MSI-X disabled');
  t.same(r.fn.msixVector(0), { address: 0, data: 0, masked: true, pending: false });
  t.ok(r.host.events().includes('pci-flr'));
});

t.test('PMCSR PowerState accepts D0 and D3hot and ignores the unsupported D1/D2', async (t) => {
  const r = rig();
  const pmcsr = (r.fn.capabilities?.pm ?? 0) + PmCap.offset.pmcsr;
  r.fn.configWrite(pmcsr, 2, 3);
  t.equal(r.fn.configRead(pmcsr, 2) & 3, 3);
  r.fn.configWrite(pmcsr, 2, 1);
  t.equal(r.fn.configRead(pmcsr, 2) & 3, 3, 'D1 refused');
  t.ok(r.host.events().includes('pci-pm-unsupported-state'));
  r.fn.configWrite(pmcsr, 2, 0);
  t.equal(r.fn.configRead(pmcsr, 2), 0x0008, 'D0, No_Soft_Reset still set');
});

t.test('before attach config reads say "no function" and raises are dropped, counted', async (t) => {
  const host = new FakeHost(4096);
  const fn = new PciFunction({ sendMsi: () => t.fail('no MSI before attach'), log: host.log, metrics: host.metrics });
  t.equal(fn.configRead(0, 2), 0xffff);
  fn.configWrite(4, 2, 7);
  t.equal(fn.barRead(0, 0, 4), 0xffff_ffff);
  fn.irq.raise(0);
  fn.reset();
  t.equal(host.counters.get('pci_config_no_function_total'), 2);
  t.ok(host.events().includes('msix-raise-without-msix'));
});

t.test('attaching twice is a broken invariant', async (t) => {
  const r = rig();
  t.throws(() => r.fn.attach(r.model), /already attached/);
});

t.test('a malformed model declaration throws at attach', async (t) => {
  const host = new FakeHost(4096);
  const base = makeStandInDevice(host.context());
  const bad = (patch: Partial<PciDeviceModel>): PciDeviceModel => ({ ...base, ...patch });
  const region = { read: () => 0, write: () => {} };
  t.throws(() => validateModel(bad({ bars: [{ index: 6, size: 4096, is64: false, prefetchable: false, region }] })), /index 6/);
  t.throws(() => validateModel(bad({ bars: [{ index: 0, size: 3000, is64: false, prefetchable: false, region }] })), /power of two/);
  t.throws(() => validateModel(bad({ bars: [{ index: 5, size: 4096, is64: true, prefetchable: false, region }] })), /BAR5/);
  t.throws(() => validateModel(bad({
    bars: [{ index: 0, size: 0x4000, is64: true, prefetchable: false, region }, { index: 1, size: 16, is64: false, prefetchable: false, region }],
  })), /declared twice/);
  t.throws(() => validateModel(bad({ msixVectors: 2049 })), /msixVectors/);
  t.throws(() => validateModel(bad({ msixBar: 4 })), /not a declared BAR/);
  t.throws(() => validateModel(bad({ msixTableOffset: 0x2100 })), /4 KiB aligned/);
  t.throws(() => validateModel(bad({ msixTableOffset: 0x3000 })), /beyond BAR0/);
  t.throws(() => validateModel(bad({ bars: [{ index: 0, size: 2 ** 32, is64: false, prefetchable: false, region }], msixVectors: 0 })), /4 GiB/);
  t.doesNotThrow(() => validateModel(bad({ bars: [{ index: 0, size: 2 ** 33, is64: true, prefetchable: true, region }] })));
});

t.test('a model without MSI-X has no MSI-X capability and its BARs are all device region', async (t) => {
  const r = buildRig((ctx) => ({ ...makeStandInDevice(ctx), msixVectors: 0 }));
  t.equal(r.fn.capabilities?.msix, null);
  enable(r);
  t.equal(r.fn.barRead(0, TABLE, 4), 0, 'stand-in region answers 0 there');
});

t.test('the serial number option adds a Device Serial Number extended capability', async (t) => {
  const host = new FakeHost(4096);
  const fn = new PciFunction({ sendMsi: () => {}, log: host.log, metrics: host.metrics, serialNumber: 0x0011_2233_4455_6677n, interruptPin: 1 });
  fn.attach(makeStandInDevice(host.context()));
  t.equal(fn.configRead(0x100, 4), 0x0001_0003, 'DSN, version 1, end of list');
  t.equal(fn.configRead(0x104, 4), 0x4455_6677);
  t.equal(fn.configRead(0x108, 4), 0x0011_2233);
  t.equal(fn.configRead(H.interruptPin, 1), 1);
});

// Capability layouts against specs.md §1.4–1.5 and Linux pci_regs.h, and how the list is chained.
import t from 'tap';
import { ConfigSpace } from '../../../src/devices/pcie/config-space.ts';
import {
  CapId, defineCapabilities, DsnExtCap, Express, ExpressCap, extCapHeader, MsixCap, MsixControl, PmCap, walkCapabilities,
  walkExtendedCapabilities,
} from '../../../src/devices/pcie/capabilities.ts';

t.test('capability structures have the spec offsets and sizes', async (t) => {
  t.equal(PmCap.size, 8, 'PCI_PM_SIZEOF');
  t.same([PmCap.offset.pmc, PmCap.offset.pmcsr], [2, 4]);
  t.same(MsixCap.offset, { capId: 0, next: 1, messageControl: 2, tableOffsetBir: 4, pbaOffsetBir: 8 });
  t.equal(MsixCap.size, 12);
  const x = ExpressCap.offset;
  t.same([x.pcieCap, x.devCap, x.devCtl, x.devSta, x.lnkCap, x.lnkCtl, x.lnkSta], [2, 4, 8, 0xa, 0xc, 0x10, 0x12]);
  t.same([x.devCap2, x.devCtl2], [0x24, 0x28]);
  t.equal(x.lnkCtl2 + 2, 0x32, 'a v2 endpoint with link ends at 0x32 (PCI_CAP_EXP_ENDPOINT_SIZEOF_V2)');
  t.equal(x.devCtl2 + 4, 0x2c, 'a v2 RC-integrated endpoint ends at 0x2C');
  t.equal(DsnExtCap.size, 12);
  t.same(DsnExtCap.offset, { header: 0, serialLo: 4, serialHi: 8 });
});

t.test('capability IDs and bits match specs.md §1.4–1.5', async (t) => {
  t.same([CapId.POWER_MANAGEMENT, CapId.MSI, CapId.VENDOR, CapId.PCI_EXPRESS, CapId.MSIX], [0x01, 0x05, 0x09, 0x10, 0x11]);
  t.equal(Express.DEVCAP_FLR, 0x1000_0000);
  t.equal(Express.DEVCTL_INITIATE_FLR, 0x8000);
  t.same([MsixControl.TABLE_SIZE_MASK, MsixControl.FUNCTION_MASK, MsixControl.ENABLE], [0x7ff, 0x4000, 0x8000]);
  t.equal(extCapHeader(3, 1, 0x140), 0x1401_0003);
});

t.test('PM, Express, MSI-X and extras chain from 0x40 on DWORD boundaries', async (t) => {
  const cs = new ConfigSpace();
  const odd = Uint8Array.of(0x09, 0, 5, 1, 2);
  const layout = defineCapabilities(cs, {
    msix: { vectors: 8, bir: 2, tableOffset: 0x2000, pbaOffset: 0x3000 },
    extra: [odd, Uint8Array.of(0x09, 0, 4, 7)],
    serialNumber: null,
  });
  cs.write(0x34, 1, 0x40); // the header is not defined here; give the walker its pointer
  t.same(layout, { pm: 0x40, express: 0x48, msix: 0x7c, extra: [0x88, 0x90], dsn: null, first: 0x40 });
  t.equal(cs.read(0x34, 1), 0, 'this test space has no header: 0x34 stays RO 0');
  cs.define(0x34, 1, { value: 0x40 });
  t.same(walkCapabilities((o) => cs.read(o, 1)).map((c) => [c.id, c.offset]),
    [[0x01, 0x40], [0x10, 0x48], [0x11, 0x7c], [0x09, 0x88], [0x09, 0x90]]);
  t.equal(cs.read(0x7c + 2, 2), 7, 'table size N-1');
  t.equal(cs.read(0x7c + 4, 4), 0x2002, 'table offset | BIR');
  t.equal(cs.read(0x7c + 8, 4), 0x3002, 'PBA offset | BIR');
  t.equal(cs.read(0x48 + 2, 2), 0x0002, 'Express v2, endpoint');
  t.equal(cs.read(0x40 + 2, 2) & 7, 3, 'PM version 3');
  t.equal(cs.read(0x8d, 1), 0, 'padding after a 5-byte extra reads 0');
  cs.write(0x88 + 2, 1, 0xff);
  t.equal(cs.read(0x88 + 2, 1), 5, 'extra capabilities are read-only');
});

t.test('Express DevCtl and DevSta follow their masks', async (t) => {
  const cs = new ConfigSpace();
  defineCapabilities(cs, { msix: null, extra: [], serialNumber: null });
  const devCtl = 0x48 + ExpressCap.offset.devCtl;
  t.equal(cs.read(devCtl, 2), Express.DEVCTL_RESET);
  cs.write(devCtl, 2, 0xffff);
  t.equal(cs.read(devCtl, 2), 0xf8ff, 'ext tag, phantom and aux PM are not supported');
  t.equal(cs.read(0x48 + ExpressCap.offset.devCap, 4) & 0x1000_0000, 0x1000_0000, 'FLR capable');
});

t.test('capabilities that do not fit below 0x100 are a broken model', async (t) => {
  const withExtra = (len: number) => () => defineCapabilities(new ConfigSpace(), { msix: null, extra: [new Uint8Array(len)], serialNumber: null });
  t.doesNotThrow(withExtra(0x100 - 0x7c), 'an extra ending exactly at 0x100 fits');
  t.throws(withExtra(0x100 - 0x7c + 1), /only 0xC0 fit/);
  t.throws(() => defineCapabilities(new ConfigSpace(), { msix: null, extra: [Uint8Array.of(9)], serialNumber: null }), /no header/);
});

t.test('the walkers stop on a loop or an empty extended list', async (t) => {
  const bytes = new Uint8Array(256);
  bytes[0x34] = 0x40;
  bytes[0x40] = 0x01; bytes[0x41] = 0x40; // points to itself
  t.equal(walkCapabilities((o) => bytes[o] ?? 0).length, 48);
  t.same(walkExtendedCapabilities(() => 0), []);
  t.same(walkExtendedCapabilities((o) => (o === 0x100 ? extCapHeader(3, 1, 0) : 0)), [{ id: 3, offset: 0x100 }]);
});

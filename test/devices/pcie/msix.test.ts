// MSI-X table, PBA and delivery rules 1–3 and 5 (specs.md §1.5), driven directly.
import t from 'tap';
import { Msix, MsixTableEntry, msixPages, VECTOR_CONTROL_MASK } from '../../../src/devices/pcie/msix.ts';
import { FakeHost } from '../../helpers/fake-host.ts';

const E = MsixTableEntry.offset;

function make(vectors = 4): { msix: Msix; sent: [number, number, number][]; host: FakeHost } {
  const host = new FakeHost(4096);
  const sent: [number, number, number][] = [];
  const msix = new Msix({ vectors, send: (a, d, v) => sent.push([a, d, v]), log: host.log, metrics: host.metrics });
  return { msix, sent, host };
}

/** Program entry n and unmask it. */
function program(m: Msix, n: number, addr: number, data: number, hi = 0): void {
  m.tableWrite(16 * n + E.addressLo, 4, addr);
  m.tableWrite(16 * n + E.addressHi, 4, hi);
  m.tableWrite(16 * n + E.data, 4, data);
  m.tableWrite(16 * n + E.vectorControl, 4, 0);
}

t.test('a table entry is 16 bytes: address lo/hi, data, vector control', async (t) => {
  t.equal(MsixTableEntry.size, 16);
  t.same(MsixTableEntry.offset, { addressLo: 0, addressHi: 4, data: 8, vectorControl: 12 });
});

t.test('table and PBA sizes: 16 B per entry, one PBA bit per vector in QWORDs, each in whole pages', async (t) => {
  t.same(msixPages(1), { tableBytes: 16, pbaBytes: 8, tablePages: 1, pbaPages: 1 });
  t.same(msixPages(65), { tableBytes: 1040, pbaBytes: 16, tablePages: 1, pbaPages: 1 });
  t.same(msixPages(2048), { tableBytes: 32768, pbaBytes: 256, tablePages: 8, pbaPages: 1 });
});

t.test('every Vector Control resets to masked, address and data to 0', async (t) => {
  const { msix } = make(3);
  for (let n = 0; n < 3; n++) t.same(msix.vector(n), { address: 0, data: 0, masked: true, pending: false });
  t.equal(msix.tableRead(12, 4), VECTOR_CONTROL_MASK);
});

t.test('rule 1: a vector fires only with Enable=1, Function Mask=0, entry unmasked and Bus Master=1', async (t) => {
  const { msix, sent } = make();
  program(msix, 1, 0xfee0_0000, 0x31);
  msix.raise(1);
  t.same(sent, [], 'MSI-X disabled: dropped');
  msix.setControl(true, false);
  msix.raise(1);
  t.same(sent, [], 'Bus Master off: dropped');
  t.equal(msix.vector(1).pending, false, 'a Bus Master drop is not a pending bit');
  msix.setBusMaster(true);
  msix.raise(1);
  t.same(sent, [[0xfee0_0000, 0x31, 1]], 'rule 3: one write of Data to Address');
});

t.test('rule 2: an event on a masked entry sets its PBA bit; unmasking sends it and clears the bit', async (t) => {
  const { msix, sent, host } = make();
  msix.setControl(true, false);
  msix.setBusMaster(true);
  msix.tableWrite(16 * 3 + E.addressLo, 4, 0xfee0_2000);
  msix.tableWrite(16 * 3 + E.data, 4, 9);
  msix.raise(3);
  t.equal(msix.pbaRead(0, 4), 0b1000);
  t.equal(host.counters.get('msix_pending_set_total'), 1);
  msix.raise(3);
  t.equal(msix.pbaRead(0, 1), 0b1000, 'a second event while pending stays one bit');
  msix.tableWrite(16 * 3 + E.vectorControl, 4, 0);
  t.same(sent, [[0xfee0_2000, 9, 3]]);
  t.equal(msix.pbaRead(0, 4), 0);
});

t.test('rule 2 with Function Mask: pending vectors go out when the function is unmasked', async (t) => {
  const { msix, sent } = make();
  program(msix, 0, 0xfee0_0000, 1);
  program(msix, 2, 0xfee0_0000, 3);
  msix.setBusMaster(true);
  msix.setControl(true, true);
  msix.raise(2);
  msix.raise(0);
  t.equal(msix.pbaRead(0, 4), 0b101);
  msix.setControl(true, false);
  t.same(sent, [[0xfee0_0000, 1, 0], [0xfee0_0000, 3, 2]], 'sent in vector order');
});

t.test('vectors beyond 64 use the second PBA QWORD', async (t) => {
  const { msix } = make(70);
  msix.setControl(true, true);
  msix.raise(65);
  t.equal(msix.pbaRead(8, 4), 0b10);
  t.equal(msix.pbaRead(0, 4), 0);
});

t.test('a 64-bit message address is delivered whole', async (t) => {
  const { msix, sent } = make();
  program(msix, 0, 0x1000, 5, 0x1);
  msix.setControl(true, false);
  msix.setBusMaster(true);
  msix.raise(0);
  t.same(sent, [[0x1_0000_1000, 5, 0]]);
});

t.test('table fields hard-wire their reserved bits', async (t) => {
  const { msix } = make();
  msix.tableWrite(E.addressLo, 4, 0xffff_ffff);
  t.equal(msix.tableRead(E.addressLo, 4), 0xffff_fffc, 'address bits 1:0 are 0');
  msix.tableWrite(E.vectorControl, 4, 0xffff_ffff);
  t.equal(msix.tableRead(E.vectorControl, 4), 1, 'only the Mask bit is writable');
  t.equal(msix.tableRead(E.addressLo + 1, 1), 0xff, 'byte reads work');
});

t.test('rule 5: non-DWORD table writes and any PBA write are dropped, logged and counted', async (t) => {
  const { msix, host } = make();
  msix.tableWrite(E.data, 2, 0xffff);
  msix.tableWrite(E.data + 1, 4, 0xffff);
  t.equal(msix.tableRead(E.data, 4), 0);
  msix.pbaWrite(0, 4);
  t.equal(host.counters.get('msix_bad_access_total'), 3);
  t.same(host.events(), ['msix-table-bad-access', 'msix-table-bad-access', 'msix-pba-write']);
});

t.test('reads past the last entry or PBA QWORD but inside their pages return 0', async (t) => {
  const { msix } = make(4);
  t.equal(msix.tableRead(64, 4), 0);
  t.equal(msix.pbaRead(8, 4), 0);
  msix.tableWrite(64, 4, 1);
  t.equal(msix.tableRead(64, 4), 0);
});

t.test('a raise of a vector the table does not have is logged and counted, not thrown', async (t) => {
  const { msix, host, sent } = make(2);
  msix.raise(2);
  msix.raise(-1);
  t.same(sent, []);
  t.equal(host.counters.get('msix_vector_out_of_range_total'), 2);
});

t.test('an address above 2^53 cannot be carried and is dropped with a named event', async (t) => {
  const { msix, host, sent } = make();
  program(msix, 0, 0, 1, 0x0020_0000);
  msix.setControl(true, false);
  msix.setBusMaster(true);
  msix.raise(0);
  t.same(sent, []);
  t.ok(host.events().includes('msix-address-unrepresentable'));
});

t.test('reset masks every entry, clears the PBA and disables MSI-X', async (t) => {
  const { msix, sent } = make();
  program(msix, 0, 0xfee0_0000, 1);
  msix.setControl(true, true);
  msix.raise(0);
  msix.reset();
  t.same(msix.vector(0), { address: 0, data: 0, masked: true, pending: false });
  t.notOk(msix.isEnabled);
  msix.setControl(true, false);
  t.same(sent, []);
});

t.test('the table size must be 1..2048', async (t) => {
  t.throws(() => make(0), /out of range/);
  t.throws(() => make(2049), /out of range/);
});

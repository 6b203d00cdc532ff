// The edu teaching device inside a PciFunction on the fake host: the shared device contract, then every register of
// the spec table (docs/labs/edu-device.md), the DMA engine against IOMMU-like windows, and its MSI-X completions.
import { crc32 as zlibCrc32 } from 'node:zlib';
import t from 'tap';
import { buildRig, runDeviceContract, type ContractRig } from '../../helpers/device-contract.ts';
import { EduDevice } from '../../../src/devices/edu/edu.ts';
import {
  crc32, EDU_DMA_MAX, EDU_ID, EduCmd, EduError, EduInt, EduRegs, EduStatus, factorialU32,
} from '../../../src/devices/edu/regs.ts';
import { Command, Type0Header } from '../../../src/devices/pcie/config-space.ts';
import { MsixControl } from '../../../src/devices/pcie/capabilities.ts';
import { MsixTableEntry } from '../../../src/devices/pcie/msix.ts';

const R = EduRegs.offset;
const CMD = Type0Header.offset.command;

function rig(): ContractRig & { rd(off: number): number; wr(off: number, v: number): void } {
  const r = buildRig((ctx) => new EduDevice(ctx));
  r.fn.configWrite(CMD, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
  return { ...r, rd: (off) => r.fn.barRead(0, off, 4), wr: (off, v) => r.fn.barWrite(0, off, 4, v) };
}

/** Program MSI-X vector 0 (address 0xFEE00000, data 0x4E00) and enable MSI-X. */
function armMsix(r: ContractRig, masked = false): void {
  const E = MsixTableEntry.offset;
  r.fn.barWrite(1, E.addressLo, 4, 0xfee0_0000);
  r.fn.barWrite(1, E.data, 4, 0x4e00);
  r.fn.barWrite(1, E.vectorControl, 4, masked ? 1 : 0);
  const cap = r.fn.capabilities?.msix ?? 0;
  r.fn.configWrite(cap + 2, 2, MsixControl.ENABLE);
}

t.test('the edu device passes the shared device contract', async (t) => {
  await runDeviceContract(t, (ctx) => new EduDevice(ctx), {
    unknownBarOffsets: [{ bar: 0, offset: 0x0c }, { bar: 0, offset: 0x30 }, { bar: 0, offset: 0x5c }, { bar: 0, offset: 0xffc }],
  });
});

t.test('registers read their reset values', async (t) => {
  const r = rig();
  t.equal(r.rd(R.ID), EDU_ID);
  t.equal(r.rd(R.ID), 0x010000ed, 'version 1.0 in the 0xRRrr00ED form');
  t.equal(r.rd(R.LIVENESS), 0xffff_ffff, 'liveness reads ~0');
  for (const name of ['FACTORIAL', 'STATUS', 'ERROR', 'INT_STATUS', 'INT_RAISE', 'INT_ACK', 'INT_ENABLE', 'DMA_SRC_LO', 'DMA_SRC_HI', 'DMA_DST_LO', 'DMA_DST_HI', 'DMA_LEN', 'DMA_CMD', 'DMA_RESULT'] as const) {
    t.equal(r.rd(R[name]), 0, `${name} is 0`);
  }
});

t.test('RO registers ignore writes; narrow writes are ignored and counted', async (t) => {
  const r = rig();
  for (const name of ['ID', 'STATUS', 'ERROR', 'INT_STATUS', 'DMA_RESULT'] as const) {
    const before = r.rd(R[name]);
    r.wr(R[name], 0xa5a5_a5a5);
    t.equal(r.rd(R[name]), before, `${name} unchanged`);
  }
  r.fn.barWrite(0, R.LIVENESS, 2, 0x1234);
  t.equal(r.rd(R.LIVENESS), 0xffff_ffff);
  t.equal(r.host.counters.get('edu_bad_access_total'), 1);
  t.equal(r.fn.barRead(0, R.ID, 1), 0xed, 'byte reads return the register bytes');
  t.equal(r.fn.barRead(0, R.ID + 2, 2), 0x0100);
});

t.test('liveness returns the bitwise NOT of what was written', async (t) => {
  const r = rig();
  for (const v of [0, 1, 0x1234_5678, 0xffff_ffff, 0x8000_0000]) {
    r.wr(R.LIVENESS, v);
    t.equal(r.rd(R.LIVENESS), ~v >>> 0, `~0x${v.toString(16)}`);
  }
});

t.test('factorial computes n! modulo 2^32 and sets INT_STATUS.FACT', async (t) => {
  const r = rig();
  const cases: [number, number][] = [[0, 1], [1, 1], [5, 120], [10, 3628800], [12, 479001600], [13, 1932053504], [33, 2147483648], [34, 0], [0xffff_ffff, 0]];
  for (const [n, want] of cases) {
    r.wr(R.FACTORIAL, n);
    t.equal(r.rd(R.FACTORIAL), want, `${n}!`);
    t.equal(factorialU32(n), want);
  }
  t.equal(r.rd(R.INT_STATUS), EduInt.FACT);
  t.equal(r.msis.length, 0, 'no message while INT_ENABLE is 0');
});

t.test('crc32 agrees with zlib', async (t) => {
  const data = new Uint8Array(1000).map((_, i) => (i * 31 + 7) & 0xff);
  t.equal(crc32(data), zlibCrc32(data));
  t.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf4_3926, 'the CRC-32 check value');
});

/** Start a command and let its DMA finish. */
async function runCmd(r: ReturnType<typeof rig>, cmd: number): Promise<void> {
  r.wr(R.DMA_CMD, cmd);
  await r.host.settle();
  if (r.rd(R.STATUS) & EduStatus.BUSY) throw new Error('the command did not finish');
}

t.test('CHECKSUM reads the buffer by DMA and reports its CRC-32', async (t) => {
  const r = rig();
  const data = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
  r.host.mem.set(data, 0x10003);
  r.wr(R.DMA_SRC_LO, 0x10003);
  r.wr(R.DMA_LEN, data.length);
  r.wr(R.DMA_CMD, EduCmd.CHECKSUM);
  t.equal(r.rd(R.STATUS), EduStatus.BUSY, 'busy until the DMA read completes');
  await r.host.settle();
  t.equal(r.rd(R.STATUS), 0);
  t.equal(r.rd(R.ERROR), EduError.NONE);
  t.equal(r.rd(R.DMA_RESULT), zlibCrc32(data));
  t.equal(r.rd(R.INT_STATUS), EduInt.DMA);
  t.equal(r.host.counters.get('edu_dma_bytes_total'), 4096);
});

t.test('COPY moves the bytes to the destination and checksums them', async (t) => {
  const r = rig();
  const data = new Uint8Array(777).map((_, i) => (i * 13 + 1) & 0xff);
  r.host.mem.set(data, 0x20000);
  r.wr(R.DMA_SRC_LO, 0x20000);
  r.wr(R.DMA_DST_LO, 0x30001);
  r.wr(R.DMA_LEN, data.length);
  await runCmd(r, EduCmd.COPY);
  t.same(r.host.mem.subarray(0x30001, 0x30001 + 777), data);
  t.equal(r.rd(R.DMA_RESULT), zlibCrc32(data));
});

t.test('DMA outside the windows fails with DMA_FAULT, touches nothing, and the next command works', async (t) => {
  const r = rig();
  r.host.unmapAll();
  r.host.map(0, 0x100000, true);
  r.wr(R.DMA_SRC_LO, 0x200000);
  r.wr(R.DMA_LEN, 64);
  await runCmd(r, EduCmd.CHECKSUM);
  t.equal(r.rd(R.STATUS), EduStatus.ERROR);
  t.equal(r.rd(R.ERROR), EduError.DMA_FAULT);
  t.equal(r.rd(R.INT_STATUS), EduInt.ERROR);
  t.ok(r.host.events().includes('edu.command-failed'));
  r.wr(R.DMA_SRC_LO, 0x1000);
  r.wr(R.DMA_DST_LO, 0x3ff000);
  await runCmd(r, EduCmd.COPY);
  t.equal(r.rd(R.ERROR), EduError.DMA_FAULT, 'a destination outside the windows is refused too');
  t.ok(r.host.mem.subarray(0x3ff000, 0x3ff040).every((b) => b === 0), 'nothing written there');
  r.wr(R.DMA_DST_LO, 0x2000);
  await runCmd(r, EduCmd.COPY);
  t.equal(r.rd(R.STATUS), 0, 'ERROR cleared by the next command');
  t.equal(r.rd(R.ERROR), EduError.NONE);
});

t.test('bad command, bad length, no Bus Master and a command while busy are reported, never fatal', async (t) => {
  const r = rig();
  r.wr(R.DMA_LEN, 16);
  await runCmd(r, 7);
  t.equal(r.rd(R.ERROR), EduError.BAD_COMMAND);
  t.equal(r.rd(R.STATUS), EduStatus.ERROR);
  r.wr(R.DMA_LEN, 0);
  await runCmd(r, EduCmd.CHECKSUM);
  t.equal(r.rd(R.ERROR), EduError.BAD_LENGTH);
  r.wr(R.DMA_LEN, EDU_DMA_MAX + 1);
  await runCmd(r, EduCmd.CHECKSUM);
  t.equal(r.rd(R.ERROR), EduError.BAD_LENGTH);
  r.wr(R.DMA_LEN, 16);
  r.fn.configWrite(CMD, 2, Command.MEMORY_SPACE);
  await runCmd(r, EduCmd.CHECKSUM);
  t.equal(r.rd(R.ERROR), EduError.NO_BUS_MASTER);
  r.fn.configWrite(CMD, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
  r.wr(R.DMA_CMD, EduCmd.CHECKSUM);
  r.wr(R.DMA_CMD, EduCmd.CHECKSUM);
  t.equal(r.rd(R.ERROR), EduError.BUSY, 'the second command is refused while the first runs');
  await r.host.settle();
  t.equal(r.rd(R.STATUS), 0, 'the first one still completes');
  t.equal(r.rd(R.DMA_RESULT), zlibCrc32(new Uint8Array(16)));
  t.equal(r.host.counters.get('edu_errors_total'), 5);
});

t.test('completions raise MSI-X vector 0 when enabled; masking pends; INT_ACK clears', async (t) => {
  const r = rig();
  armMsix(r);
  r.wr(R.INT_ENABLE, EduInt.DMA | EduInt.FACT);
  r.wr(R.DMA_LEN, 64);
  await runCmd(r, EduCmd.CHECKSUM);
  t.same(r.msis, [{ address: 0xfee0_0000, data: 0x4e00, vector: 0 }]);
  r.wr(R.INT_ACK, EduInt.DMA);
  t.equal(r.rd(R.INT_STATUS), 0);
  r.fn.barWrite(1, MsixTableEntry.offset.vectorControl, 4, 1);
  r.wr(R.FACTORIAL, 3);
  t.equal(r.msis.length, 1, 'masked: no message');
  t.equal(r.fn.barRead(1, 0x1000, 4) & 1, 1, 'PBA bit 0 set');
  r.fn.barWrite(1, MsixTableEntry.offset.vectorControl, 4, 0);
  t.equal(r.msis.length, 2, 'unmasking delivers the pending message');
  r.wr(R.INT_RAISE, EduInt.SOFT);
  t.equal(r.rd(R.INT_STATUS), EduInt.FACT | EduInt.SOFT);
  t.equal(r.msis.length, 2, 'SOFT is not enabled: no message');
  r.wr(R.INT_ENABLE, EduInt.SOFT);
  r.wr(R.INT_RAISE, EduInt.SOFT);
  t.equal(r.msis.length, 3);
});

t.test('a function reset drops a DMA in flight and restores every register', async (t) => {
  const r = rig();
  r.wr(R.LIVENESS, 5);
  r.wr(R.INT_ENABLE, EduInt.DMA);
  r.wr(R.DMA_LEN, 32);
  r.wr(R.DMA_CMD, EduCmd.CHECKSUM);
  r.fn.reset();
  r.fn.configWrite(CMD, 2, Command.MEMORY_SPACE);
  await r.host.settle();
  t.equal(r.rd(R.STATUS), 0);
  t.equal(r.rd(R.DMA_RESULT), 0, 'the old DMA did not land');
  t.equal(r.rd(R.INT_STATUS), 0);
  t.equal(r.rd(R.LIVENESS), 0xffff_ffff);
  t.equal(r.rd(R.INT_ENABLE), 0);
});

// The guest's edu driver and `edu` shell command against the real edu device model (PciFunction + EduDevice) on the
// TestPlatform stand-in: probe (ID, liveness, MSI-X), factorial, DMA checksum and copy with MSI-X completions, and a
// device that fails its liveness check staying unbound.
import { crc32 } from 'node:zlib';
import t from 'tap';
import { bootGuest } from '../../../../src/host/guest/kernel.ts';
import { eduPattern } from '../../../../src/host/guest/commands/edu.ts';
import { EduDevice } from '../../../../src/devices/edu/edu.ts';
import { EduRegs } from '../../../../src/devices/edu/regs.ts';
import { DmaFault, type DeviceContext } from '../../../../src/devices/contract.ts';
import { PciFunction } from '../../../../src/devices/pcie/pci-function.ts';
import { TestPlatform } from '../helpers/test-platform.ts';

function attachEdu(p: TestPlatform, slot: number, breakLiveness = false): PciFunction {
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const metrics = { inc: () => {}, observe: () => {} };
  const fn = new PciFunction({ sendMsi: (a, d) => p.deliverMsi(a, d), log, metrics });
  const check = (addr: number, len: number): void => { if (addr + len > p.mem.length) throw new DmaFault(addr, len, 'unmapped'); };
  const ctx: DeviceContext = {
    dma: {
      read: async (a, dst) => { p.touch(); check(a, dst.length); dst.set(p.mem.subarray(a, a + dst.length)); },
      write: async (a, src) => { p.touch(); check(a, src.length); p.mem.set(src, a); },
    },
    irq: fn.irq, clock: { nowNs: () => p.nowNs(), setTimer: (ms, f) => p.setTimer(ms, f) }, log, metrics,
  };
  fn.attach(new EduDevice(ctx));
  if (breakLiveness) {
    const barRead = fn.barRead.bind(fn);
    fn.barRead = (bar, off, size) => (bar === 0 && off === EduRegs.offset.LIVENESS ? 0 : barRead(bar, off, size));
  }
  p.attach(slot, fn);
  return fn;
}

async function boot(breakLiveness = false) {
  const p = new TestPlatform({ memBytes: 32 << 20 });
  attachEdu(p, 5, breakLiveness);
  const k = await bootGuest(p);
  await k.userDataDone;
  return { p, k };
}

t.test('the driver binds the edu function: ID, liveness and MSI-X at probe', async (t) => {
  const { p, k } = await boot();
  t.match(p.output, /edu 00:05\.0: nitrolab edu v1\.0, liveness ok, MSI-X vector 0x[0-9a-f]+/u);
  t.match((await k.exec('lspci')).output, /^00:05\.0 Unassigned class: Amazon\.com, Inc\. nitrolab edu teaching device \(rev 01\)$/mu);
  t.match((await k.exec('lspci -v')).output, /Kernel driver in use: edu/u);
  t.match((await k.exec('edu')).output, /^edu0 00:05\.0 nitrolab edu v1\.0 msix-vector 0x[0-9a-f]+ interrupts 0$/mu);
});

t.test('edu fact N prints N! mod 2^32, finished by an interrupt', async (t) => {
  const { p, k } = await boot();
  t.same(await k.exec('edu fact 10'), { code: 0, output: '10! = 3628800\n' });
  t.same(await k.exec('edu fact 13'), { code: 0, output: '13! = 1932053504 (mod 2^32)\n' });
  t.equal(p.msis.length, 2, 'one MSI-X message per factorial');
  t.match((await k.exec('edu')).output, /interrupts 2$/mu);
  t.equal((await k.exec('edu fact x')).code, 2);
});

t.test('edu checksum LEN: the device CRC-32 over DMA equals the CPU CRC-32', async (t) => {
  const { k } = await boot();
  const r = await k.exec('edu checksum 4k');
  t.equal(r.code, 0);
  const want = crc32(eduPattern(4096)).toString(16).padStart(8, '0');
  t.match(r.output, new RegExp(`^device crc32 0x${want}$`, 'mu'));
  t.match(r.output, new RegExp(`^cpu    crc32 0x${want} \\(match\\)$`, 'mu'));
  t.equal((await k.exec('edu checksum 1000')).code, 0, 'odd lengths too');
  t.match((await k.exec('edu checksum 1M')).output, /length 1048576 is outside 1\.\.65536/u);
  t.match((await k.exec('edu copy 65537')).output, /length 65537 is outside 1\.\.65536/u);
});

t.test('edu copy LEN moves the bytes by DMA', async (t) => {
  const { k } = await boot();
  const r = await k.exec('edu copy 64k');
  t.equal(r.code, 0);
  t.match(r.output, /^edu copy: 65536 bytes by DMA, destination matches source, crc32 0x[0-9a-f]{8}$/mu);
});

t.test('a device that fails the liveness check is left unbound and the command says so', async (t) => {
  const { p, k } = await boot(true);
  t.match(p.output, /edu 00:05\.0: probe failed: liveness check failed: wrote 0x12345678, read 0x0/u);
  t.match((await k.exec('edu fact 3')).output, /no edu device/u);
});

t.test('poweroff releases the edu function', async (t) => {
  const { p, k } = await boot();
  await k.run('poweroff');
  t.ok(p.poweredOff);
  t.equal(k.irqs.snapshot().filter((e) => e.owner.startsWith('edu')).length, 0, 'vector freed');
});

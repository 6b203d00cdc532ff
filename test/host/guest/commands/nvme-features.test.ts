// `nvme set-feature | get-feature | queue-log` against the real NVMe controller (TestPlatform stand-in): interrupt
// coalescing set from the guest raises fewer interrupts for the same I/O, per-vector opt-out (Feature 09h) restores
// one interrupt per completion batch, and Submission Push is refused where the platform cannot push.
import t, { type Test } from 'tap';
import { bootGuest, type GuestKernel } from '../../../../src/host/guest/kernel.ts';
import { TestPlatform } from '../helpers/test-platform.ts';
import { attachRealNvme } from '../helpers/real-nvme.ts';

async function boot() {
  const p = new TestPlatform({ memBytes: 32 << 20 });
  const dev = attachRealNvme(p, 3, { serial: 'vol0coalesce000000', ioQueues: 1 });
  // Spread completions over event-loop turns (0–4 turns per read), as a real backend does: the controller already
  // folds completions of one turn into one interrupt, so coalescing shows only when they arrive apart.
  const read = dev.backend.read.bind(dev.backend);
  let n = 0;
  dev.backend.read = async (offset, dst) => {
    for (let i = n++ % 5; i > 0; i--) await new Promise((r) => setImmediate(r));
    return read(offset, dst);
  };
  const k = await bootGuest(p);
  await k.userDataDone;
  return { p, dev, k };
}

async function sh(t: Test, k: GuestKernel, line: string): Promise<string> {
  const r = await k.exec(line);
  t.equal(r.code, 0, `${line} → ${r.output.slice(-160)}`);
  return r.output;
}

/** The guest's count of interrupts on the NVMe I/O vector: the last nvme0 row of `interrupts` (the first is the
 *  admin queue's; this controller has one I/O queue). */
async function ioInterrupts(t: Test, k: GuestKernel): Promise<number> {
  const rows = [...(await sh(t, k, 'interrupts')).matchAll(/^\s*\d+:\s+(\d+)\s+PCI-MSIX\s+nvme0\s*$/gmu)];
  const last = rows[rows.length - 1];
  if (rows.length < 2 || last === undefined) throw new Error('no I/O vector row for nvme0 in interrupts');
  return Number(last[1]);
}

const FIO = 'fio --name=c --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=32 --size=1m';

t.test('coalescing set from the guest raises fewer interrupts for the same I/O count', async (t) => {
  const { k } = await boot();
  const q0 = await ioInterrupts(t, k);
  await sh(t, k, FIO);
  const off = (await ioInterrupts(t, k)) - q0;

  t.match(await sh(t, k, 'nvme set-feature /dev/nvme0 coalesce 15 2'), /value:0x0000020f \(THR 16 completions, TIME 200 us\)/);
  t.match(await sh(t, k, 'nvme get-feature /dev/nvme0 coalesce'), /Current value:0x0000020f/);
  const q1 = await ioInterrupts(t, k);
  await sh(t, k, FIO);
  const on = (await ioInterrupts(t, k)) - q1;
  t.ok(on < off, `coalescing on: ${on} interrupts for 256 reads, off: ${off}`);
  t.ok(on <= 256 / 16 + 8, `about one interrupt per 16 completions (${on})`);

  // Per vector: Feature 09h CD=1 takes the I/O vector (MSI-X entry 1) out of coalescing again.
  t.match(await sh(t, k, 'nvme set-feature /dev/nvme0 irq-coalesce 1 off'), /value:0x00010001 \(vector 1 coalescing off\)/);
  t.match(await sh(t, k, 'nvme get-feature /dev/nvme0 irq-coalesce 1'), /vector 1 coalescing off/);
  const q2 = await ioInterrupts(t, k);
  await sh(t, k, FIO);
  t.ok((await ioInterrupts(t, k)) - q2 > on, 'vector opted out: more interrupts again');

  const log = await sh(t, k, 'nvme queue-log /dev/nvme0');
  t.match(log, /^io_cqe_posted\s+: 768 \(\+768\)$/mu, 'the card counted every I/O completion');
  t.match(log, /^io_sq_dma_reads\s+: [1-9]\d* \(\+[1-9]\d*\)$/mu, 'without push the SQEs came by DMA');
  t.match(log, /^sqe_pushed\s+: 0 \(\+0\)$/mu);
  await sh(t, k, FIO);
  t.match(await sh(t, k, 'nvme queue-log /dev/nvme0'), /^io_cqe_posted\s+: 1024 \(\+256\)$/mu, 'the next queue-log shows the change since');
});

t.test('coalesce off clears the feature; bad arguments are refused with the usage', async (t) => {
  const { k } = await boot();
  await sh(t, k, 'nvme set-feature /dev/nvme0 coalesce 7 1');
  t.match(await sh(t, k, 'nvme set-feature /dev/nvme0 coalesce off'), /value:0x00000000/);
  t.match(await sh(t, k, 'nvme get-feature /dev/nvme0 coalesce'), /Current value:0x00000000/);
  for (const bad of ['coalesce 300 1', 'coalesce 7 0', 'coalesce x', 'irq-coalesce 1 maybe', 'push sideways', 'frobnicate']) {
    const r = await k.exec(`nvme set-feature /dev/nvme0 ${bad}`);
    t.equal(r.code, 1, `set-feature ${bad} fails`);
    t.match(r.output, /coalesce THR TIME/, 'and prints the usage');
  }
  const r = await k.exec('nvme set-feature /dev/nvme0 irq-coalesce 99 on');
  t.not(r.code, 0, 'a vector beyond the controller\'s is refused by the controller (Invalid Field)');
});

t.test('push on is refused where the platform has no pushed doorbell; the controller feature stays off', async (t) => {
  const { k } = await boot();
  const r = await k.exec('nvme set-feature /dev/nvme0 push on');
  t.not(r.code, 0);
  t.match(r.output, /no pushed doorbell/);
  t.match(await sh(t, k, 'nvme get-feature /dev/nvme0 push'), /\(off\)/);
  await sh(t, k, 'fio --name=p --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=4 --size=64k --verify=crc32c');
});

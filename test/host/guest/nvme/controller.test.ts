// The NVMe driver against the FakeNvme stand-in: probe sequence, timeouts → Abort → reset, dead controllers,
// device misbehaviour survived, namespace hot-plug through AENs, and the CC.SHN shutdown handshake.
import t from 'tap';
import { bootGuest } from '../../../../src/host/guest/kernel.ts';
import { TestPlatform } from '../helpers/test-platform.ts';
import { FakeNvme, type FakeNvmeOptions } from '../helpers/fake-nvme.ts';

async function boot(o: FakeNvmeOptions = {}, setup?: (d: FakeNvme) => void) {
  const p = new TestPlatform();
  const dev = new FakeNvme(p, o);
  setup?.(dev);
  p.attach(3, dev);
  const k = await bootGuest(p, { nvme: { ioQueues: 2 } });
  return { p, dev, k };
}

t.test('probe follows the Linux order and registers nvme0n1', async (t) => {
  const { dev, k } = await boot({ namespaces: { 1: { blocks: 2048 } } });
  const admin = dev.opcodes.filter((o) => o.startsWith('0:')).map((o) => Number(o.slice(2)));
  // Identify ctrl, Set Features (queues), Create CQ/SQ ×2, Set Features (AEN config), AER, Identify list, Identify ns
  t.same(admin, [0x06, 0x09, 0x05, 0x01, 0x05, 0x01, 0x09, 0x0c, 0x06, 0x06]);
  t.equal(dev.enables, 1);
  t.equal(k.blocks.get('nvme0n1')?.sizeBytes, 2048 * 512);
  t.equal(k.nvme.controllers[0]?.ioQueueCount, 2);
  t.ok(dev.msixControl & 0x8000, 'MSI-X enabled');
  t.ok(dev.command & 0x6, 'memory space and bus master enabled');
});

t.test('each I/O queue gets its own MSI-X vector and completions arrive by interrupt', async (t) => {
  const { p, k } = await boot();
  const r = await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=4');
  t.equal(r.code, 0);
  const rows = k.irqs.snapshot();
  t.equal(rows.length, 3, 'admin + 2 I/O vectors');
  t.ok(rows.slice(1).every((row) => row.count > 0), 'both I/O vectors fired');
  t.ok(p.msis.length > 0);
  t.equal(p.badMsis.length, 0, 'every MSI-X entry was programmed with 0xFEE00000');
});

t.test('a controller that never sets CSTS.RDY fails probe after CAP.TO and leaves no block device', async (t) => {
  const { p, k } = await boot({}, (d) => { d.neverReady = true; });
  t.equal(k.blocks.list().length, 0);
  t.equal(k.nvme.controllers.length, 0);
  t.match(p.output, /device not ready; aborting initialisation/);
  t.equal(k.irqs.snapshot().length, 0, 'vectors released');
});

t.test('an I/O timeout sends Abort; the aborted command fails and the next one succeeds', async (t) => {
  const { p, dev, k } = await boot();
  dev.drop.add('1:2'); dev.drop.add('2:2'); // reads vanish
  const r = await k.exec('dd if=/dev/nvme0n1 of=/dev/null bs=4k count=1');
  t.equal(r.code, 1);
  t.match(r.output, /error reading '\/dev\/nvme0n1'.*Command Abort Requested/);
  t.match(p.output, /timeout, aborting/);
  t.equal(k.nvme.controllers[0]?.stats.aborts, 1);
  dev.drop.clear();
  t.equal((await k.exec('dd if=/dev/nvme0n1 of=/dev/null bs=4k count=1')).code, 0);
});

t.test('when Abort does not help, the second timeout resets the controller and I/O works again', async (t) => {
  const { p, dev, k } = await boot();
  dev.ignoreAbort = true;
  dev.drop.add('1:1'); dev.drop.add('2:1');
  const r = await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=1');
  t.equal(r.code, 1);
  t.match(p.output, /timeout, reset controller/);
  await p.waitFor(/controller reset complete/);
  t.equal(dev.enables, 2);
  dev.drop.clear();
  t.equal((await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=1')).code, 0);
  t.equal(k.blocks.list().length, 1, 'namespace kept across the reset');
});

t.test('a controller that cannot be re-enabled is declared dead and its block device removed', async (t) => {
  const { p, dev, k } = await boot({}, () => {});
  dev.drop.add('0:6'); // Identify never completes: admin timeout → reset → Identify times out again…
  const c = k.nvme.controllers[0]!;
  await c.reset('test');
  t.equal(c.state, 'dead');
  t.equal(k.blocks.list().length, 0);
  t.match(p.output, /removing controller \(dead\)/);
  t.equal((await k.exec('nvme id-ctrl /dev/nvme0')).code, 1);
});

t.test('lost interrupts are recovered by polling the CQ at timeout time', async (t) => {
  const { p, dev, k } = await boot();
  dev.noInterrupts = true;
  t.equal((await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=1')).code, 0);
  t.match(p.output, /completion\(s\) polled \(interrupt missed\)/);
});

t.test('a completion with an unknown command id is logged and ignored', async (t) => {
  const { p, dev, k } = await boot();
  dev.bogusCid = 0x0fff;
  t.equal((await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=2')).code, 0);
  t.match(p.output, /invalid id 4095 completed/);
});

t.test('a namespace-changed AEN rescans: attach adds nvme0n2, detach removes it', async (t) => {
  const { p, dev, k } = await boot();
  dev.attach(2, 4096);
  await p.waitFor(/nvme0n2: 4096 512-byte logical blocks/);
  t.ok(k.blocks.get('nvme0n2'));
  dev.detach(2);
  await p.waitFor(/nvme0n2: namespace removed/);
  t.notOk(k.blocks.get('nvme0n2'));
  t.ok(dev.opcodes.includes('0:2'), 'the changed-namespace log page was read');
});

t.test('large transfers are split by MDTS and use PRP lists', async (t) => {
  const { dev, k } = await boot({ mdts: 2, namespaces: { 1: { blocks: 4096 } } });
  t.equal(k.blocks.get('nvme0n1')?.maxTransferBytes, 16384);
  t.equal((await k.exec('dd if=/dev/urandom of=/tmp/a bs=64k count=2')).code, 0);
  t.equal((await k.exec('dd if=/tmp/a of=/dev/nvme0n1 bs=64k')).code, 0);
  t.equal((await k.exec('dd if=/dev/nvme0n1 of=/tmp/b bs=64k count=2')).code, 0);
  t.equal((await k.exec('cmp /tmp/a /tmp/b')).code, 0);
  t.equal(dev.opcodes.filter((o) => o.endsWith(':1') && !o.startsWith('0:')).length, 8, '128 KiB in 16 KiB writes');
});

t.test('poweroff deletes the I/O queues and completes the CC.SHN handshake', async (t) => {
  const { p, dev, k } = await boot();
  await k.run('poweroff');
  t.equal(dev.shutdowns, 1);
  const admin = dev.opcodes.filter((o) => o.startsWith('0:')).slice(-4);
  t.same(admin, ['0:0', '0:0', '0:4', '0:4']);
  t.match(p.output, /nvme nvme0: shutdown complete/);
  t.ok(p.poweredOff);
});

// The guest against the project's real device models (PciFunction + NVMe controller, in-memory backend) on the
// TestPlatform stand-in: enumeration, identify, dd round trip and fio verify, as a user at the console would see them.
import t from 'tap';
import { bootGuest } from '../../../src/host/guest/kernel.ts';
import { TestPlatform } from './helpers/test-platform.ts';
import { attachRealNvme } from './helpers/real-nvme.ts';

async function boot() {
  const p = new TestPlatform({ memBytes: 32 << 20, hostname: 'ip-172-31-0-9' });
  const dev = attachRealNvme(p, 3, { serial: 'vol0123456789abcdef0', blockDeviceName: 'sdf' });
  const k = await bootGuest(p);
  await k.userDataDone;
  return { p, dev, k };
}

t.test('lspci and lsblk show the EBS controller and its namespace', async (t) => {
  const { k } = await boot();
  t.match((await k.exec('lspci')).output, /^00:03\.0 Non-Volatile memory controller: Amazon\.com, Inc\. NVMe EBS Controller$/mu);
  const v = (await k.exec('lspci -v')).output;
  t.match(v, /Memory at [0-9a-f]{8} \(64-bit, non-prefetchable\) \[size=16K\]/u);
  t.match(v, /MSI-X: Enable\+ Count=\d+ Masked-/u);
  t.match(v, /Kernel driver in use: nvme/u);
  t.match((await k.exec('lsblk')).output, /^nvme0n1\s+8M disk Amazon Elastic Block Store vol0123456789abcdef0$/mu);
});

t.test('nvme id-ctrl reports vendor 0x1d0f, the model string and the bdev name', async (t) => {
  const { k } = await boot();
  const r = await k.exec('nvme id-ctrl /dev/nvme0');
  t.equal(r.code, 0);
  t.match(r.output, /^vid\s+: 0x1d0f$/mu);
  t.match(r.output, /^mn\s+: Amazon Elastic Block Store$/mu);
  t.match(r.output, /^sn\s+: vol0123456789abcdef0$/mu);
  t.match(r.output, /^sqes\s+: 0x66$/mu);
  t.match(r.output, /^bdev\s+: sdf$/mu);
  t.match((await k.exec('nvme list')).output, /\/dev\/nvme0n1\s+vol0123456789abcdef0\s+Amazon Elastic Block Store\s+1 /u);
});

t.test('dd writes random data to nvme0n1 and reads the same bytes back', async (t) => {
  const { dev, k } = await boot();
  t.equal((await k.exec('dd if=/dev/urandom of=/tmp/in bs=4k count=16')).code, 0);
  t.match((await k.exec('dd if=/tmp/in of=/dev/nvme0n1 bs=4k seek=3')).output, /16\+0 records out\n65536 bytes/u);
  t.equal((await k.exec('dd if=/dev/nvme0n1 of=/tmp/out bs=4k skip=3 count=16')).code, 0);
  t.same(await k.exec('cmp /tmp/in /tmp/out'), { code: 0, output: '' });
  t.same(dev.backend.data.subarray(3 * 4096, 19 * 4096), k.tmpfs.read('/tmp/in'), 'the bytes reached the backend');
});

t.test('fio randwrite with crc32c verify reports zero verify errors', async (t) => {
  const { k } = await boot();
  const r = await k.exec('fio --name=v --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=16 --size=2M --verify=crc32c --direct=1');
  t.equal(r.code, 0);
  t.match(r.output, /verify: 512 blocks checked, 0 errors/u);
  t.match(r.output, /^fio: randwrite iops=\d+ bw=[\d.]+MiB\/s lat_p50=\d+us lat_p90=\d+us lat_p99=\d+us lat_p999=\d+us io_errors=0 verify_errors=0$/mu);
});

t.test('poweroff completes the controller shutdown handshake', async (t) => {
  const { p, dev, k } = await boot();
  await k.run('poweroff');
  t.ok(dev.logs.some((l) => (l.obj as { event?: string }).event === 'nvme.shutdown-complete'));
  t.ok(p.poweredOff);
});

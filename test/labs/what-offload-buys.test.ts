// docs/labs/what-offload-buys.md, run as a student would: its ```sh blocks in one bash. Part 1 runs `nitrolab compare
// --quick` (its own `up` in each mode, about 70 s on a quiet 2-CPU machine) and asserts the table and JSON show what
// the page says to read: reclaimed cores, exits in legacy and none in offload, device emulation only in legacy, the
// NVMe work on the card in offload. Part 2 starts a legacy `up`, runs fio and reads GET /v1/metrics: exits/s and
// device-emulation CPU on the host.
import t from 'tap';
import { block, envFor, LabShell, shBlocks, startLabUp } from './helpers/lab-shell.ts';

t.setTimeout(420_000);

const blocks = shBlocks('what-offload-buys.md');

t.test('compare --quick prints the reclaimed cores and where the CPU went', async (t) => {
  const sh = new LabShell({});
  t.teardown(() => sh.close());
  const cmp = await sh.run(block(blocks, 'compare'), 360_000);
  t.comment(cmp.out);
  t.equal(cmp.code, 0, 'compare exits 0');
  t.match(cmp.out, /^\| host cores on I\/O virtualization \(hypervisor \+ device emulation\) \| [\d.]+ \| [\d.]+ \|$/mu, 'the I/O virtualization row');
  t.match(cmp.out, /^\| VM exits \/ s \| [1-9][\d.]* \| 0\.00 \|$/mu, 'exits in legacy, none in offload');
  t.match(cmp.out, /\*\*Reclaimed: -?[\d.]+ host cores = -?[\d.]+ % of the host's \d+ core\(s\)\*\*/u, 'the reclaimed line');

  const summary = await sh.run(block(blocks, 'reclaimed'));
  t.comment(summary.out);
  t.match(summary.out, /^reclaimed -?[\d.]+ host cores = -?[\d.]+ % of \d+ host core\(s\)$/mu, 'the jq summary names the reclaimed cores');
  const legacy = /^legacy: (\d+) exits\/s, \d+ interrupts\/s, (\d+) IOPS; host cores: hypervisor ([\d.]+), device emulation ([\d.]+), fabric [\d.]+; card cores ([\d.]+)$/mu.exec(summary.out);
  const offload = /^offload: (\d+) exits\/s, \d+ interrupts\/s, (\d+) IOPS; host cores: hypervisor ([\d.]+), device emulation ([\d.]+), fabric [\d.]+; card cores ([\d.]+)$/mu.exec(summary.out);
  t.ok(legacy && offload, 'one line per mode');
  if (!legacy || !offload) return;
  t.ok(Number(legacy[2]) > 0 && Number(offload[2]) > 0, 'both modes did I/O');
  t.ok(Number(legacy[1]) >= Number(legacy[2]), `legacy: at least one exit per I/O (${legacy[1]} exits/s, ${legacy[2]} IOPS)`);
  t.equal(Number(offload[1]), 0, 'offload: no exits');
  t.ok(Number(legacy[4]) > 0, 'legacy: device emulation on the host');
  t.equal(Number(offload[4]), 0, 'offload: no device emulation on the host');
  t.ok(Number(offload[5]) > Number(legacy[5]), 'offload: the card carries the NVMe work');
});

t.test('a legacy host under fio: exits/s and device-emulation CPU in GET /v1/metrics', async (t) => {
  const up = await startLabUp(block(blocks, 'up'));
  t.teardown(() => up.stop());
  const sh = new LabShell({});
  t.teardown(() => sh.close());
  t.equal((await sh.run(envFor(block(blocks, 'env'), up))).code, 0, 'env');
  t.match((await sh.run(block(blocks, 'fio'))).out.trim(), /^i-[0-9a-f]{17}$/u, 'fio instance launched');
  const m = await sh.until(block(blocks, 'metrics'), /"exitsPerSec":[1-9]/u, 90_000);
  t.comment(m);
  const j = JSON.parse(m.trim().split('\n').pop() ?? '{}') as { mode: string; exitsPerSec: number; iops: number; host: Record<string, number> };
  t.equal(j.mode, 'legacy');
  t.ok(j.exitsPerSec > 0, `VM exits: ${j.exitsPerSec}/s`);
  t.ok(Object.hasOwn(j.host, 'deviceEmulation') && Object.hasOwn(j.host, 'hypervisor'), 'host CPU split into hypervisor and device emulation');
});

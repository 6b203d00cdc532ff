// docs/labs/follow-one-io.md, run as a student would: its ```sh blocks in one bash against the real `nitrolab up`.
// Asserts what the page tells students to look for: the guest's dd of 256 × 4 KiB, the interrupts table, and a
// sampled read in GET /v1/hosts/host-0/traces whose steps are doorbell → desc-dma → backend → data-dma → completion
// → msix, in that order, for 4096 bytes.
import t from 'tap';
import { block, envFor, LabShell, shBlocks, startLabUp } from './helpers/lab-shell.ts';

t.setTimeout(180_000);

t.test('follow-one-io: the commands run and show a 4 KiB read from doorbell to MSI-X', async (t) => {
  const blocks = shBlocks('follow-one-io.md');
  const up = await startLabUp(block(blocks, 'up'));
  t.teardown(() => up.stop());
  const sh = new LabShell({});
  t.teardown(() => sh.close());

  t.equal((await sh.run(envFor(block(blocks, 'env'), up))).code, 0, 'env: the API key is read from the data dir');
  const launch = await sh.run(block(blocks, 'launch'));
  t.match(launch.out.trim(), /^i-[0-9a-f]{17}$/u, 'launch prints the instance id');

  const console = await sh.until(block(blocks, 'console'), /cloud-init: user data finished/u);
  t.match(console, /nvme nvme0: Amazon Elastic Block Store/u, 'the guest binds its NVMe driver to the card\'s EBS controller');
  t.match(console, /256\+0 records in\n256\+0 records out\n1048576 bytes/u, 'dd read 256 blocks of 4 KiB');
  const nvmeVectors = [...console.matchAll(/^\s*\d+:\s+(\d+) PCI-MSIX\s+nvme0\s*$/gmu)].map((m) => Number(m[1]));
  t.ok(nvmeVectors.length >= 2, `the interrupts table lists the NVMe vectors: ${nvmeVectors.join(', ')}`);
  const ioInterrupts = nvmeVectors.slice(1).reduce((a, b) => a + b, 0);
  t.ok(ioInterrupts >= 256, `at queue depth 1 without coalescing, at least one interrupt per read: ${ioInterrupts} for 256`);

  const trace = await sh.until(block(blocks, 'trace'), /\tmsix\t/u, 30_000);
  const steps = trace.trim().split('\n').map((l) => l.split('\t'));
  t.same(steps.map((s) => s[1]), ['doorbell', 'desc-dma', 'backend', 'data-dma', 'completion', 'msix'], 'the steps, in order');
  const us = steps.map((s) => Number(/^\+(\d+) µs$/u.exec(s[0] ?? '')?.[1]));
  t.ok(us.every((v, i) => Number.isFinite(v) && (i === 0 || v >= (us[i - 1] ?? 0))), `times since the doorbell rise: ${us.join(' ')}`);
  t.match(steps[0]?.[2], /^SQ\d+ tail=\d+$/u, 'doorbell names the SQ and its new tail');
  t.match(steps[1]?.[2], /^SQ\d+ fetch 1 SQE @0x[0-9a-f]+$/u, 'one 64-byte SQE fetched at queue depth 1');
  t.match(steps[2]?.[2], /^read ns1 @\d+ \+4096$/u, 'the backend read is 4 KiB');
  t.match(steps[3]?.[2], /4096 B to host in 1 segment/u, 'the data DMA moves 4 KiB to the guest');
  t.match(steps[4]?.[2], /status=0x0$/u, 'success');
  t.match(steps[5]?.[2], /^CQ\d+ vector \d+$/u, 'MSI-X names the vector');
  t.comment(trace);
});

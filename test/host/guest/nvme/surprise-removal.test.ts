// The guest NVMe driver across a surprise removal (the card process died: docs/reliability.md § card crash and
// restart): the function reads all ones, in-flight commands never complete; when it comes back — a new controller in
// reset state over the same volume — the driver resets it, re-creates its queues, requeues what was in flight, and the
// caller's I/O completes with its data on the volume.
import t from 'tap';
import { bootGuest } from '../../../../src/host/guest/kernel.ts';
import { TestPlatform } from '../helpers/test-platform.ts';
import { attachRealNvme } from '../helpers/real-nvme.ts';
import { MemBackendStandIn } from '../../../devices/nvme/mem-backend.ts';

class LinkPlatform extends TestPlatform {
  private handler: ((up: boolean) => void) | undefined;
  onLinkChange(h: (up: boolean) => void): void { this.handler = h; }
  link(up: boolean): void { this.handler?.(up); }
}

async function setup(notify: boolean) {
  const p = new LinkPlatform();
  const first = attachRealNvme(p, 3);
  const k = await bootGuest(p, { nvme: { ioQueues: 2 } });
  const remove = () => {
    p.devices.delete(3); // config and MMIO reads now return all ones, writes go nowhere
    if (notify) p.link(false);
  };
  /** The card is back: a fresh controller (CC.EN = 0) over the same volume. */
  const restore = (backend: MemBackendStandIn) => {
    const again = attachRealNvme(p, 3);
    again.ctrl.detachNamespace(1);
    again.ctrl.attachNamespace(1, backend);
    if (notify) p.link(true);
    return again;
  };
  return { p, k, first, remove, restore };
}

for (const notify of [true, false]) {
  t.test(`in-flight writes survive a surprise removal (${notify ? 'link-change event' : 'found by the I/O timeout'})`, async (t) => {
    const { p, k, first, remove, restore } = await setup(notify);
    const run = k.exec('dd if=/dev/urandom of=/dev/nvme0n1 bs=4k count=64 oflag=direct');
    remove();
    await p.sleep(50);
    const again = restore(first.backend);
    const r = await run;
    t.equal(r.code, 0, `dd completed: ${r.output}`);
    await p.waitFor(/controller reset complete/);
    t.ok(again.ctrl, 'new controller in use');
    t.match(p.output, /controller is gone \(CSTS reads 0xffffffff\)/);
    t.equal((await k.exec('dd if=/dev/nvme0n1 of=/dev/null bs=4k count=64')).code, 0, 'reads work after the reset');
  });
}

t.test('a write failed with Internal Error (the card lost its block store for a moment) is retried, not surfaced', async (t) => {
  const p = new TestPlatform();
  const nvme = attachRealNvme(p, 3);
  const k = await bootGuest(p, { nvme: { ioQueues: 2 } });
  nvme.backend.failNext = { op: 'write', kind: 'unavailable' };
  const r = await k.exec('dd if=/dev/urandom of=/dev/nvme0n1 bs=4k count=1 oflag=direct');
  t.equal(r.code, 0, `dd completed: ${r.output}`);
  t.equal(k.blocks.get('nvme0n1') !== undefined, true);
  const ns = k.nvme.controllers[0]?.namespaces.get(1);
  t.equal(ns?.stats.retries, 1, 'retried once');
  t.equal(ns?.stats.errors, 0, 'no error reached the caller');
  nvme.backend.failNext = { op: 'write', kind: 'range' };
  t.equal((await k.exec('dd if=/dev/zero of=/dev/nvme0n1 bs=4k count=1')).code, 1, 'a DNR status (LBA Out of Range) is not retried');
  t.equal(ns?.stats.retries, 1);
});

// wvcheck, the write-verify crash checker: clean runs report zero lost/stale/misplaced/corrupt blocks, the block
// parser tells damage apart, and a run across a surprise removal of the NVMe function (the card died and came back
// as a new controller over the same volume) still finds every durable write.
import t from 'tap';
import { bootGuest } from '../../../../src/host/guest/kernel.ts';
import { wvcheckBlock, wvcheckParse, WV_BLOCK } from '../../../../src/host/guest/commands/wvcheck.ts';
import { TestPlatform } from '../helpers/test-platform.ts';
import { attachRealNvme } from '../helpers/real-nvme.ts';

class LinkPlatform extends TestPlatform {
  private handler: ((up: boolean) => void) | undefined;
  onLinkChange(h: (up: boolean) => void): void { this.handler = h; }
  link(up: boolean): void { this.handler?.(up); }
}

const SUMMARY = /wvcheck: blocks=(\d+) rounds=(\d+) final_gen=(\d+) writes=(\d+) fua_writes=(\d+) flushes=(\d+) checked=(\d+) lost=(\d+) stale=(\d+) misplaced=(\d+) corrupt=(\d+) io_errors=(\d+)/;

t.test('the block parser tells a good block from a misplaced, a torn and a foreign one', async (t) => {
  const b = wvcheckBlock(7, 3, true);
  t.same(wvcheckParse(b, 7), { verdict: 'ok', gen: 3 });
  t.equal(wvcheckParse(b, 8).verdict, 'misplaced');
  const torn = b.slice();
  torn.set(wvcheckBlock(7, 4, false).subarray(0, 2048));
  t.equal(wvcheckParse(torn, 7).verdict, 'corrupt');
  t.equal(wvcheckParse(new Uint8Array(WV_BLOCK), 7).verdict, 'corrupt');
});

t.test('a clean run: every block holds its last generation; the volume holds exactly the expected bytes', async (t) => {
  const p = new TestPlatform();
  const nvme = attachRealNvme(p, 3);
  const k = await bootGuest(p, { nvme: { ioQueues: 2 } });
  const r = await k.exec('wvcheck /dev/nvme0n1 --blocks 32 --rounds 3 --qd 4');
  t.equal(r.code, 0, r.output);
  const m = SUMMARY.exec(r.output);
  t.ok(m, 'summary line');
  t.same(m?.slice(1, 13).map(Number), [32, 3, 3, 96, 64, 1, 32, 0, 0, 0, 0, 0]);
  for (let b = 0; b < 32; b++) t.same(nvme.backend.data.subarray(b * WV_BLOCK, (b + 1) * WV_BLOCK), wvcheckBlock(b, 3, true), `block ${b} on the volume`);
});

t.test('a run across a surprise removal loses no durable write', async (t) => {
  const p = new LinkPlatform();
  const first = attachRealNvme(p, 3);
  const k = await bootGuest(p, { nvme: { ioQueues: 2 } });
  const run = k.run('wvcheck /dev/nvme0n1 --blocks 64 --rounds 4 --qd 8'); // on the console, so progress is visible
  await p.waitFor(/wvcheck: round 1 done/);
  p.devices.delete(3);
  p.link(false);
  await p.sleep(100);
  const again = attachRealNvme(p, 3);
  again.ctrl.detachNamespace(1);
  again.ctrl.attachNamespace(1, first.backend);
  p.link(true);
  t.equal(await run, 0, p.output);
  t.match(p.output, /rounds=4 final_gen=4 .*lost=0 stale=0 misplaced=0 corrupt=0 io_errors=0/);
  t.match(p.output, /controller reset complete/);
});

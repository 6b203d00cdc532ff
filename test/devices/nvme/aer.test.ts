// Async event queueing and per-log-page masking.
import t from 'tap';
import { AsyncEvents, eventDw0 } from '../../../src/devices/nvme/aer.ts';
import { Command } from '../../../src/devices/nvme/command.ts';

t.test('events wait for a request; a delivered log page masks its events until read with RAE=0', async (t) => {
  const ev = new AsyncEvents();
  const e = { type: 2, info: 0, lid: 4 };
  ev.post(e);
  ev.post(e);
  t.equal(ev.pendingCount(), 1, 'identical events coalesce');
  t.same(ev.match(), []);
  const a = new Command();
  const b = new Command();
  ev.waiting.push(a, b);
  t.same(ev.match(), [[a, e]]);
  ev.post(e);
  t.same(ev.match(), [], 'masked');
  ev.logRead(4, true);
  t.same(ev.match(), [], 'RAE = 1 keeps it masked');
  ev.logRead(4, false);
  t.same(ev.match(), [[b, e]]);
  t.equal(eventDw0({ type: 2, info: 1, lid: 4 }), 0x040102);
  ev.reset();
  t.equal(ev.waiting.length, 0);
});

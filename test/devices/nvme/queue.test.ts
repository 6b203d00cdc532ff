// Ring arithmetic: CQ phase, full, held completions, head validation; SQ pending count.
import t from 'tap';
import { CompletionQueue, SubmissionQueue } from '../../../src/devices/nvme/queue.ts';

t.test('a CQ of N slots holds N-1 entries; the next completion is held, never overwriting', async (t) => {
  const cq = new CompletionQueue(1, 0, 4, 1, true);
  for (let i = 0; i < 3; i++) t.ok(cq.place(1, i, i, 0, 0));
  t.ok(cq.isFull());
  t.notOk(cq.place(1, 3, 3, 0, 0));
  t.equal(cq.held.length, 1);
  t.equal(cq.room(), -1);
  cq.head = 2;
  t.equal(cq.drainHeld(), 1);
  t.equal(cq.held.length, 0);
  t.equal(cq.tail, 0, 'wrapped');
  t.equal(cq.phase, 0, 'phase flipped at the wrap');
  t.equal(cq.mview.getUint16(3 * 16 + 14, true) & 1, 1, 'slot 3 written on the first pass with P = 1');
});

t.test('CQ head doorbell values must lie between head and tail', async (t) => {
  const cq = new CompletionQueue(1, 0, 8, 1, true);
  cq.place(1, 0, 0, 0, 0);
  cq.place(1, 0, 1, 0, 0);
  t.ok(cq.acceptsHead(0));
  t.ok(cq.acceptsHead(2));
  t.notOk(cq.acceptsHead(3));
  t.notOk(cq.acceptsHead(8));
});

t.test('SQ pending counts around the wrap', async (t) => {
  const sq = new SubmissionQueue(1, 0, 8, new CompletionQueue(1, 0, 8, 1, true));
  sq.head = 6;
  sq.tail = 2;
  t.equal(sq.pending(), 4);
  t.equal(sq.fetchBuf.byteLength, 8 * 64);
});

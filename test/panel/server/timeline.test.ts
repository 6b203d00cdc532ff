import t from 'tap';
import { normaliseTransaction, pickTimeline } from '../../../src/panel/server/timeline.ts';
import type { Avail, TracesReply } from '../../../src/panel/server/wire.ts';
import { transaction } from '../helpers/stand-in-metrics.ts';

const ok = (...txs: TracesReply['transactions']): Avail<TracesReply> => ({ state: 'ok', data: { transactions: txs } });

t.test('steps are put in time order; string (bigint) times become numbers; unknown kinds are dropped', async (t) => {
  const tx = normaliseTransaction({ mode: 'offload', steps: [
    { tNs: '2000', kind: 'msix', detail: 'v1' }, { tNs: 1000, kind: 'doorbell', detail: 'sq1' }, { tNs: 1500, kind: 'teleport', detail: '' },
  ] });
  t.same(tx, { mode: 'offload', steps: [{ tNs: 1000, kind: 'doorbell', detail: 'sq1' }, { tNs: 2000, kind: 'msix', detail: 'v1' }] });
  t.equal(normaliseTransaction({ mode: 'hybrid', steps: [] }), undefined);
  t.equal(normaliseTransaction({ mode: 'legacy', steps: [{ kind: 'exit' }] }), undefined, 'no usable step, no transaction');
});

t.test('the newest transaction of each mode, the selected host first', async (t) => {
  const old = transaction('offload', 1);
  const fresh = transaction('offload', 2);
  const traces = new Map<string, Avail<TracesReply>>([
    ['host-0', ok(old, fresh)],
    ['host-1', ok(transaction('legacy', 3), transaction('offload', 9))],
  ]);
  const fromHost0 = pickTimeline(traces, 'host-0');
  t.equal(fromHost0.offload?.hostId, 'host-0');
  t.equal(fromHost0.offload?.transaction.steps[0]?.tNs, fresh.steps[0]?.tNs, 'the last one in the list');
  t.equal(fromHost0.legacy?.hostId, 'host-1', 'the other mode comes from another host');
  t.equal(pickTimeline(traces, 'host-1').offload?.hostId, 'host-1');
  t.same(fromHost0.status, { state: 'ok', data: null });
});

t.test('missing traces (404) are reported as such, not as an error', async (t) => {
  const traces = new Map<string, Avail<TracesReply>>([['host-0', { state: 'missing', reason: 'GET /v1/hosts/host-0/traces answered 404' }]]);
  const tl = pickTimeline(traces, 'host-0');
  t.same(tl, { offload: null, legacy: null, status: { state: 'missing', reason: 'GET /v1/hosts/host-0/traces answered 404' } });
  t.equal(pickTimeline(new Map(), null).status.state, 'missing');
});

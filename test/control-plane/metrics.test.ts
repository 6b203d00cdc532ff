// Per-app metrics registry.
import t from 'tap';
import { ControlPlaneMetrics } from '../../src/control-plane/metrics.ts';

t.test('two apps have separate registries; the instances gauge reads counts at scrape time', async (t) => {
  let counts: Record<string, number> = { running: 2 };
  const a = new ControlPlaneMetrics(() => counts);
  const b = new ControlPlaneMetrics();
  a.onCardRequest('h1', 'launch', 'unreachable');
  t.match(await a.registry.metrics(), /nitrolab_cp_card_requests_total\{host="h1",op="launch",outcome="unreachable"\} 1/);
  t.notMatch(await b.registry.metrics(), /host="h1"/);
  t.match(await a.registry.metrics(), /nitrolab_cp_instances\{state="running"\} 2/);
  counts = { terminated: 1 };
  const text = await a.registry.metrics();
  t.match(text, /nitrolab_cp_instances\{state="terminated"\} 1/);
  t.notMatch(text, /state="running"/);
});

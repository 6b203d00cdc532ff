// startTsWorker (src/common/ts-worker.ts) runs a .ts entry in a worker thread and passes workerData through.
import { once } from 'node:events';
import t from 'tap';
import { startTsWorker } from '../../src/common/ts-worker.ts';

t.test('a .ts worker entry runs and sees its workerData', async (t) => {
  const w = startTsWorker(new URL('./echo-worker.fixture.ts', import.meta.url), { workerData: { n: 41 } });
  const [msg] = await once(w, 'message') as [number];
  t.equal(msg, 42);
  await w.terminate();
});

// CPU attribution: a synthetic load in each category shows up in that category and not in another; a thread's
// categories add up to what the kernel counted for it.
import t from 'tap';
import { CpuLedger } from '../../src/telemetry/cpu-ledger.ts';
import { currentTid, parseStatCpuSec, threadCpuSec } from '../../src/telemetry/thread-cpu.ts';
import { startTsWorker } from '../../src/common/ts-worker.ts';

function burn(ms: number): number {
  const end = performance.now() + ms;
  let x = 1;
  while (performance.now() < end) x = (x * 1103515245 + 12345) | 0;
  return x;
}

const HOST = ['guest', 'hypervisor', 'device-emulation', 'fabric'] as const;
const CARD = ['nvme', 'net', 'mgmt', 'fabric'] as const;

t.test('parseStatCpuSec reads utime + stime even when comm holds spaces and parentheses', async (t) => {
  const stat = '4242 (node (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 100 0 0';
  t.equal(parseStatCpuSec(stat), 3);
});

t.test('the calling thread has a tid and a CPU reading from /proc', { skip: process.platform !== 'linux' && 'Linux /proc only' }, async (t) => {
  t.type(currentTid(), 'number');
  const a = threadCpuSec() ?? 0;
  burn(60);
  t.ok((threadCpuSec() ?? 0) >= a, 'thread CPU does not go backwards');
});

for (const [side, cats] of [['host', HOST], ['card', CARD]] as const) {
  for (const cat of cats) {
    t.test(`a synthetic ${side} load inside a ${cat} region is attributed to ${cat} and to no other category`, async (t) => {
      // A fake kernel clock that counts exactly the wall time burnt, so the split can be checked to the millisecond.
      let cpu = 0;
      const ledger = new CpuLedger(cats[0] === cat ? cats[1] : cats[0], () => cpu);
      ledger.run(cat, () => {
        const t0 = performance.now();
        burn(40);
        cpu += (performance.now() - t0) / 1000;
      });
      const s = ledger.settle();
      t.ok((s.categories[cat] ?? 0) > 0.035, `${cat} got the load (${s.categories[cat]})`);
      for (const other of cats) {
        if (other !== cat) t.ok((s.categories[other] ?? 0) < 0.002, `${other} got none of it (${s.categories[other] ?? 0})`);
      }
    });
  }
}

t.test('time outside every region goes to the default category; categories add up to the thread CPU', async (t) => {
  let cpu = 0;
  const ledger = new CpuLedger('guest', () => cpu);
  const t0 = performance.now();
  burn(30); // default: guest
  ledger.run('fabric', () => {
    burn(20);
    ledger.run('guest', () => burn(20)); // nested: the guest's interrupt handler inside link work
  });
  cpu += (performance.now() - t0) / 1000;
  const s = ledger.settle();
  const fabric = s.categories['fabric'] ?? 0;
  t.ok(fabric >= 0.02 && fabric < 0.04, `fabric: the 20 ms outside the nested region (${fabric})`);
  t.ok((s.categories['guest'] ?? 0) >= 0.05, `guest: 30 ms outside + 20 ms nested (${s.categories['guest']})`);
  const sum = Object.values(s.categories).reduce((a, b) => a + b, 0);
  t.ok(Math.abs(sum - s.threadSec) < 1e-9, 'categories add up to the thread CPU');
});

t.test('regions longer than the measured CPU (the thread was preempted) are scaled down to it', async (t) => {
  let cpu = 0;
  const ledger = new CpuLedger('hypervisor', () => cpu);
  ledger.run('device-emulation', () => burn(30));
  cpu = 0.01; // the kernel says the thread only ran 10 ms of those 30
  const s = ledger.settle();
  t.ok(Math.abs((s.categories['device-emulation'] ?? 0) - 0.01) < 1e-6);
  t.equal(s.categories['hypervisor'] ?? 0, 0);
});

t.test('a worker thread\'s load is measured by the kernel for that thread, not for the main thread', { skip: process.platform !== 'linux' && 'Linux /proc only' }, async (t) => {
  const mainBefore = threadCpuSec() ?? 0;
  const w = startTsWorker(new URL('./burn-worker.fixture.ts', import.meta.url), { workerData: { category: 'guest', cpuSec: 0.3 } });
  const m = await new Promise<{ snap: { threadSec: number; categories: Record<string, number> }; tid: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  const mainSpent = (threadCpuSec() ?? 0) - mainBefore;
  t.not(m.tid, currentTid(), 'the worker has its own tid');
  t.ok(m.snap.threadSec >= 0.29, `the worker's thread CPU shows its 300 ms of CPU (${m.snap.threadSec})`);
  t.ok((m.snap.categories['guest'] ?? 0) >= 0.29, 'in its default category');
  t.ok(mainSpent < m.snap.threadSec, `the main thread did not get it (${mainSpent})`);
});

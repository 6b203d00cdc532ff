// The card's GET /v1/metrics record (src/nitro-card/telemetry.ts): rates are differences of cumulative counters over
// the sampling interval, the host's unowned threads are charged by mode and link, legacy I/O comes from the
// hypervisor's report, and an unreachable hypervisor is said so rather than shown as an idle host.
import t from 'tap';
import { CardTelemetry } from '../../src/nitro-card/telemetry.ts';
import { IoTracer } from '../../src/telemetry/io-trace.ts';
import { emptyIoTotals } from '../../src/telemetry/io-counters.ts';
import { createRootLogger } from '../../src/common/log.ts';
import type { HostTelemetry } from '../../src/hypervisor/telemetry.ts';

const log = createRootLogger({ name: 'test', level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stand-in card (unit test only): a hypervisor whose cumulative counters the test advances, and one ENI. */
function standInCard() {
  const eni = { counters: { tx_packets: 0, rx_packets: 0, tx_bytes: 0, rx_bytes: 0 } };
  const host: HostTelemetry = {
    mode: 'offload', atMs: 0, cpuSec: { guest: 0, hypervisor: 0, deviceEmulation: 0, fabric: 0, unowned: 0 },
    processSec: 0, cardThreadSec: undefined, threads: { main: { threadSec: 0, categories: {} } as never, pcpus: [] },
    exits: 0, injections: 0, interrupts: 0, io: undefined, traces: [],
  };
  let reachable = true;
  return {
    eni, host,
    setReachable(v: boolean) { reachable = v; },
    card: {
      hypervisorStats: async () => { if (!reachable) throw new Error('link down'); return { telemetry: structuredClone(host) }; },
      nvmeControllers: () => [],
      info: () => ({ usage: { instances: 3 } }),
      vpc: { listEnis: () => [eni] },
    },
  };
}

async function twoSamples(mode: 'offload' | 'legacy', link: 'socket' | 'shm', advance: (s: ReturnType<typeof standInCard>) => void) {
  const s = standInCard();
  const tel = new CardTelemetry({ hostId: 'host-0', mode, link, card: s.card, tracer: new IoTracer({ mode }), log, ownsProcess: false });
  await tel.sample();
  await sleep(200);
  advance(s);
  const m = await tel.sample();
  return { m, s, tel };
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

t.test('rates are counter differences over the measured interval', async (t) => {
  const { m } = await twoSamples('offload', 'socket', (s) => {
    s.host.cpuSec.guest += 0.5; s.host.cpuSec.hypervisor += 0.02; s.host.cpuSec.fabric += 0.04;
    s.host.exits += 0; s.host.interrupts += 600;
    s.eni.counters.tx_packets += 100; s.eni.counters.rx_packets += 50; s.eni.counters.tx_bytes += 150_000; s.eni.counters.rx_bytes += 75_000;
  });
  const dt = m.intervalSec;
  t.ok(dt > 0.15 && dt < 5, `interval measured (${dt} s)`);
  t.ok(near(m.cpu.host.guest, 0.5 / dt), `guest cores = 0.5 CPU-s / interval (${m.cpu.host.guest})`);
  t.ok(near(m.cpu.host.hypervisor, 0.02 / dt), 'hypervisor cores');
  t.ok(near(m.cpu.host.total, (0.5 + 0.02 + 0.04) / dt), 'host total is the sum of its categories');
  t.ok(near(m.interruptsPerSec, 600 / dt), 'interrupts per second');
  t.equal(m.exitsPerSec, 0, 'no exits in offload mode');
  t.ok(near(m.io.pps, 150 / dt), 'pps counts both directions of the ENIs');
  t.ok(near(m.io.gbps, (225_000 * 8) / 1e9 / dt), 'Gbps from ENI bytes');
  t.equal(m.instances, 3);
  t.equal(m.hostReachable, true);
});

t.test("the host's unowned threads go to the category that owns their work in each set-up", async (t) => {
  const add = (s: ReturnType<typeof standInCard>) => { s.host.cpuSec.unowned += 0.1; };
  const legacy = (await twoSamples('legacy', 'socket', add)).m;
  t.ok(near(legacy.cpu.host.deviceEmulation, 0.1 / legacy.intervalSec), 'legacy: the device models\' file I/O → device emulation');
  t.equal(legacy.cpu.host.hypervisor, 0, '… and not the hypervisor');
  const socket = (await twoSamples('offload', 'socket', add)).m;
  t.ok(near(socket.cpu.host.hypervisor, 0.1 / socket.intervalSec), 'offload over a socket: → hypervisor');
  t.equal(socket.cpu.host.deviceEmulation, 0, '… and not device emulation');
  // Over shm the card is a thread of the host process; card nvme also holds this test thread's own CPU (the card
  // ledger's default category), so only a lower bound is exact — and the host side must not have it.
  const shm = (await twoSamples('offload', 'shm', add)).m;
  t.ok(shm.cpu.card.nvme >= 0.1 / shm.intervalSec - 1e-9, `offload over shm: the card worker's file I/O → card nvme (${shm.cpu.card.nvme})`);
  t.equal(shm.cpu.host.hypervisor + shm.cpu.host.deviceEmulation, 0, '… and nothing of it on the host side');
});

t.test('legacy mode reports the I/O and exits of the device models in the host', async (t) => {
  const { m } = await twoSamples('legacy', 'socket', (s) => {
    const io = emptyIoTotals();
    io.ops = 400; io.writeBytes = 400 * 4096; io.queueDepth = 7;
    s.host.io = io; s.host.exits = 900;
  });
  // The first sample had no io (undefined → zeros), the second 400 ops.
  t.ok(near(m.io.iops, 400 / m.intervalSec), `legacy IOPS from the hypervisor (${m.io.iops})`);
  t.ok(near(m.io.writeMBps, (400 * 4096) / 1e6 / m.intervalSec), 'legacy MB/s');
  t.equal(m.queueDepth, 7, 'queue depth is the current value, not a rate');
  t.ok(near(m.exitsPerSec, 900 / m.intervalSec), 'exits per second');
});

t.test('an unreachable hypervisor is reported as such; counters do not go negative', async (t) => {
  const s = standInCard();
  const tel = new CardTelemetry({ hostId: 'host-0', mode: 'offload', link: 'socket', card: s.card, tracer: new IoTracer({ mode: 'offload' }), log, ownsProcess: false });
  s.host.interrupts = 1000;
  await tel.sample();
  s.setReachable(false);
  await sleep(50);
  const m = await tel.sample();
  t.equal(m.hostReachable, false, 'hostReachable false');
  t.equal(m.interruptsPerSec, 0, 'a missing reading (0) after 1000 is not a negative rate');
  t.equal(m.cpu.host.total, 0, 'no host CPU invented');
});

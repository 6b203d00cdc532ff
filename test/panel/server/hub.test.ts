import t from 'tap';
import type { Test } from 'tap';
import { PanelHub } from '../../../src/panel/server/hub.ts';
import type { PanelSource } from '../../../src/panel/server/source.ts';
import type { Avail, MetricsReply, ServerMessage, TracesReply } from '../../../src/panel/server/wire.ts';
import type { InstanceRecord } from '../../../src/control-plane/state/instance-store.ts';
import { transaction } from '../helpers/stand-in-metrics.ts';

const missing = (what: string) => ({ state: 'missing' as const, reason: `${what} answered 404` });

/** A source whose answers the test sets; counts reads. */
class FakeSource implements PanelSource {
  metricsReply: Avail<MetricsReply> = missing('GET /v1/metrics');
  consoleText = new Map<string, string>();
  reads = { metrics: 0, traces: [] as string[], console: [] as string[] };
  async hosts() { return { state: 'ok' as const, data: [{ hostId: 'host-0', reachable: true }, { hostId: 'host-1', reachable: true }] }; }
  async instances() { return { state: 'ok' as const, data: [] as InstanceRecord[] }; }
  async metrics() { this.reads.metrics++; return this.metricsReply; }
  async traces(hostId: string): Promise<Avail<TracesReply>> {
    this.reads.traces.push(hostId);
    return hostId === 'host-1' ? { state: 'ok', data: { transactions: [transaction('legacy')] } } : missing(`traces ${hostId}`);
  }
  async console(id: string) {
    this.reads.console.push(id);
    const text = this.consoleText.get(id);
    return text === undefined ? missing(`console ${id}`) : { state: 'ok' as const, data: { text, stale: false } };
  }
}

function metrics(iops: number): MetricsReply {
  const zero = { guest: 0, hypervisor: 0, deviceEmulation: 0, fabric: 0, total: 0 };
  return { at: 0, hosts: [{ hostId: 'host-0', mode: 'offload', link: 'socket', cpu: { host: zero, card: { nvme: 0.5, net: 0, mgmt: 0, fabric: 0, total: 0.5 } },
    io: { iops, readMBps: 0, writeMBps: 0, pps: 0, gbps: 0 }, exitsPerSec: 0, interruptsPerSec: 0, queueDepth: 0, latencyUs: { p50: 0, p99: 0 }, instances: 0 }] };
}

function setup(t: Test) {
  const source = new FakeSource();
  const hub = new PanelHub({ source, machineCpus: 4, manual: true, historySize: 2 });
  t.teardown(() => hub.close());
  const inbox: ServerMessage[] = [];
  const sub = hub.subscribe((m) => inbox.push(m));
  const last = <K extends ServerMessage['type']>(type: K) => inbox.filter((m): m is Extract<ServerMessage, { type: K }> => m.type === type).at(-1);
  return { source, hub, inbox, sub, last };
}

t.test('a new page gets a hello, then a snapshot per tick', async (t) => {
  const { source, hub, inbox, last } = setup(t);
  t.same(inbox, [{ type: 'hello', machineCpus: 4, history: [] }]);
  await hub.tick();
  const s = last('snapshot');
  t.same(s?.metrics, missing('GET /v1/metrics'), 'metrics not built yet: missing, not an error');
  t.same(s?.reclaim, { kind: 'none' });
  t.equal(s?.hosts.state, 'ok');
  t.same(source.reads.traces.sort(), ['host-0', 'host-1'], 'traces are read for every host');
  t.equal(s?.timeline.legacy?.hostId, 'host-1');
  t.equal(s?.timeline.offload, null);
  t.equal(s?.console, null, 'no instance chosen, no console');
});

t.test('metrics are kept as history for pages that connect later, up to historySize', async (t) => {
  const { source, hub } = setup(t);
  for (const iops of [1, 2, 3]) {
    source.metricsReply = { state: 'ok', data: metrics(iops) };
    await hub.tick();
  }
  const late: ServerMessage[] = [];
  hub.subscribe((m) => late.push(m));
  const hello = late[0];
  if (hello?.type !== 'hello') throw new Error('no hello');
  t.same(hello.history.map((p) => p.hosts[0]?.io.iops), [2, 3]);
});

t.test('the console of the chosen instance: a reset first, then only what was appended', async (t) => {
  const { source, hub, sub, last } = setup(t);
  source.consoleText.set('i-1', 'boot\n');
  sub.select('host-0', 'i-1');
  await hub.tick();
  t.same(last('snapshot')?.console, { instanceId: 'i-1', reset: true, text: 'boot\n', stale: false });
  source.consoleText.set('i-1', 'boot\nfio: done\n');
  await hub.tick();
  t.same(last('snapshot')?.console, { instanceId: 'i-1', reset: false, text: 'fio: done\n', stale: false });
  await hub.tick();
  t.same(last('snapshot')?.console, { instanceId: 'i-1', reset: false, text: '', stale: false }, 'nothing new');
  source.consoleText.set('i-2', 'other\n');
  sub.select('host-0', 'i-2');
  await hub.tick();
  t.same(last('snapshot')?.console, { instanceId: 'i-2', reset: true, text: 'other\n', stale: false }, 'a new choice starts over');
  sub.select('host-0', null);
  await hub.tick();
  t.equal(last('snapshot')?.console, null);
});

t.test('state changes are pushed at once; a closed page gets nothing more', async (t) => {
  const { hub, inbox, sub } = setup(t);
  hub.instancesChanged([]);
  t.same(inbox.at(-1), { type: 'instances', instances: [] });
  sub.close();
  t.equal(hub.subscribers, 0);
  const n = inbox.length;
  hub.instancesChanged([]);
  await hub.tick();
  t.equal(inbox.length, n);
});

t.test('a page whose send throws does not stop the others', async (t) => {
  const errors: unknown[] = [];
  const hub2 = new PanelHub({ source: new FakeSource(), machineCpus: 1, manual: true, onError: (e) => errors.push(e) });
  t.teardown(() => hub2.close());
  hub2.subscribe(() => { throw new Error('socket gone'); });
  const ok: ServerMessage[] = [];
  hub2.subscribe((m) => ok.push(m));
  await hub2.tick();
  t.ok(ok.some((m) => m.type === 'snapshot'));
  t.ok(errors.length >= 1, 'the failure is reported');
});

// GET /v1/metrics, the Prometheus gauges on /metrics and GET /v1/hosts/:id/traces: the control plane relays each
// card's own report, checks it against the contract, says which cards could not be asked, and never invents figures.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard, deadCardUrl } from '../helpers/stand-in-card.ts';

function report(hostId: string) {
  return {
    hostId, mode: 'legacy', link: 'socket',
    cpu: { host: { guest: 0.9, hypervisor: 0.12, deviceEmulation: 0.2, fabric: 0.01, total: 1.23 }, card: { nvme: 0.05, net: 0.01, mgmt: 0.002, fabric: 0.03, total: 0.092 } },
    io: { iops: 2750, readMBps: 0, writeMBps: 11.26, pps: 40, gbps: 0.0005 },
    exitsPerSec: 3544, interruptsPerSec: 2750, queueDepth: 16, latencyUs: { p50: 410, p99: 1900 }, instances: 2,
    intervalSec: 1.0, hostReachable: true,
  };
}

t.test('GET /v1/metrics relays each reachable card and lists the unreachable ones', async (t) => {
  const card = await standInCard(t, { hostId: 'host-a' });
  card.failNext('GET /mgmt/v1/metrics', { status: 200, body: report('host-a') });
  const app = await build(t, { cards: [card.endpoint, { hostId: 'host-b', url: await deadCardUrl(), token: 't' }] });
  const res = await app.inject('/v1/metrics');
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.equal(body.hosts.length, 1, 'one host reported');
  t.match(body.hosts[0], { hostId: 'host-a', mode: 'legacy', cpu: { host: { deviceEmulation: 0.2 } }, exitsPerSec: 3544, latencyUs: { p99: 1900 }, intervalSec: 1 });
  t.match(body.unreachable, [{ hostId: 'host-b', error: /ECONNREFUSED/ }], 'the dead card is named with its error');
  t.ok(!Number.isNaN(Date.parse(body.at)), 'timestamped');
});

t.test('a card report that breaks the contract is not relayed as figures', async (t) => {
  const card = await standInCard(t, { hostId: 'host-a' });
  card.failNext('GET /mgmt/v1/metrics', { status: 200, body: { hostId: 'host-a', io: { iops: 5 } } });
  const app = await build(t, { cards: [card.endpoint] });
  const body = (await app.inject('/v1/metrics')).json();
  t.same(body.hosts, [], 'no host figures');
  t.match(body.unreachable, [{ hostId: 'host-a', error: /metrics report lacks hostId, cpu or io/ }]);
});

t.test('Prometheus /metrics carries the per-host gauges read from the cards at scrape time', async (t) => {
  const card = await standInCard(t, { hostId: 'host-a' });
  card.failNext('GET /mgmt/v1/metrics', { status: 200, body: report('host-a') });
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  const text = res.body;
  t.match(text, /nitrolab_host_cpu_cores\{host="host-a",mode="legacy",side="host",category="deviceEmulation"\} 0\.2/);
  t.match(text, /nitrolab_host_cpu_cores\{host="host-a",mode="legacy",side="card",category="nvme"\} 0\.05/);
  t.notMatch(text, /category="total"/, 'totals are not exported as a category (they would double-count in sums)');
  t.match(text, /nitrolab_host_exits_per_second\{host="host-a",mode="legacy"\} 3544/);
  t.match(text, /nitrolab_host_io_latency_microseconds\{host="host-a",mode="legacy",quantile="0\.99"\} 1900/);
  t.match(text, /nitrolab_host_io_megabytes_per_second\{host="host-a",mode="legacy",direction="write"\} 11\.26/);
});

t.test('GET /v1/hosts/:id/traces: 404 for a host that is not configured, the card\'s transactions otherwise', async (t) => {
  const card = await standInCard(t, { hostId: 'host-a' });
  const app = await build(t, { cards: [card.endpoint] });
  const missing = await app.inject('/v1/hosts/host-zz/traces');
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { code: 'InvalidHostID.NotFound' });
  const tx = { mode: 'offload', steps: [{ tNs: 0, kind: 'doorbell', detail: 'SQ1 tail 5' }, { tNs: 900, kind: 'msix', detail: 'vector 1' }] };
  card.failNext('GET /mgmt/v1/traces', { status: 200, body: { transactions: [tx] } });
  const ok = await app.inject('/v1/hosts/host-a/traces');
  t.equal(ok.statusCode, 200);
  t.same(ok.json().transactions, [tx]);
  card.failNext('GET /mgmt/v1/traces', { status: 200, body: { nope: true } });
  const bad = await app.inject('/v1/hosts/host-a/traces');
  t.ok(bad.statusCode >= 500 && bad.statusCode < 600, `a malformed card reply is the card's failure, not the caller's (${bad.statusCode})`);
});

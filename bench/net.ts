// Guest-to-guest UDP (issue 4 benchmarks, issue 8 §4): two instances launched over REST on the real `nitrolab up`,
// the guest shell's `udp-perf` sending 64 B and 1472 B payloads (1500-byte IP packets) from one to the other — on one
// host (forwarded by the card) and across two hosts (Geneve over UDP between the cards) — against raw UDP loopback
// measured in the same run, with the cards' CPU per Gbit/s from GET /v1/metrics.
import { fromRuns, type BenchContext, type BenchRecord } from './lib/record.ts';
import type { Limits } from './limits.ts';
import { API_KEY, api, startUp } from './launch.ts';

interface Inst { instanceId: string; hostId?: string; privateIp?: string; state?: { name: string } }

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function launch(url: string, userData: string): Promise<Inst> {
  const r = await api(url, 'POST', '/v1/instances', { instanceType: 'emu.small', userData });
  const inst = (r.body.instances as Inst[] | undefined)?.[0];
  if (r.status !== 201 || !inst) throw new Error(`launch refused: ${r.status} ${JSON.stringify(r.body)}`);
  return waitFor(`${inst.instanceId} running`, async () => {
    const g = (await api(url, 'GET', `/v1/instances/${inst.instanceId}`)).body as unknown as Inst;
    return g.state?.name === 'running' && g.privateIp ? g : undefined;
  }, 60_000);
}

export async function consoleText(url: string, id: string): Promise<string> {
  const res = await fetch(`${url}/v1/instances/${id}/console`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return res.text();
}

export async function runNet(ctx: BenchContext, limits: Limits): Promise<BenchRecord[]> {
  const recs: BenchRecord[] = [];
  const secs = ctx.quick ? 2 : 5;
  for (const [where, hosts] of [['same-host', 1], ['cross-host', 2]] as const) {
    ctx.progress(`net ${where}: nitrolab up --hosts ${hosts}`);
    const up = await startUp(['--hosts', String(hosts)]);
    try {
      const rx = await launch(up.url, `udp-perf recv --port 5001 --seconds ${secs}\nudp-perf recv --port 5002 --seconds ${secs}`);
      const tx = await launch(up.url, [
        'sleep 1', `udp-perf send ${rx.privateIp} --port 5001 --size 64 --seconds ${secs}`,
        'sleep 1', `udp-perf send ${rx.privateIp} --port 5002 --size 1472 --seconds ${secs}`,
      ].join('\n'));
      if (hosts === 2 && rx.hostId === tx.hostId) throw new Error('cross-host pair was placed on one host');
      // Sample the cards' CPU while the 1472 B stream runs (the second send starts after ~1 + secs + 1 s).
      let cardCores = NaN;
      const sampler = (async () => {
        await new Promise((r) => setTimeout(r, (secs + 2 + secs / 2) * 1000));
        const m = (await api(up.url, 'GET', '/v1/metrics')).body as { hosts?: { cpu?: { card?: { total?: number } } }[] };
        cardCores = (m.hosts ?? []).reduce((s, h) => s + (h.cpu?.card?.total ?? 0), 0);
      })();
      const out = await waitFor('both udp-perf reports', async () => {
        const text = await consoleText(up.url, rx.instanceId);
        const got = [...text.matchAll(/udp-perf: received (\d+) packets \((\d+) bytes\) in ([\d.]+) s: (\d+) pps, ([\d.]+) Gbps, lost (\d+)/gu)];
        return got.length >= 2 ? got : undefined;
      }, (3 * secs + 30) * 1000);
      await sampler;
      const [small, big] = out;
      const o = { transport: 'udp' as const, mode: 'offload' };
      const pps = Number(small?.[4]);
      // From the byte count: udp-perf prints Gbit/s with three decimals, which rounds slow links to zero.
      const gbps = (Number(big?.[2]) * 8) / Number(big?.[3]) / 1e9;
      recs.push(fromRuns(`net.g2g.64B.${where}.pps`, 'pps', [pps], { ...o, limit: { name: 'limit.udp-loopback.64B', value: limits.udp64Pps }, note: `guest udp-perf → ${hosts === 1 ? 'card forwarding' : 'Geneve between two cards'} → guest; lost ${small?.[6]}` }));
      recs.push(fromRuns(`net.g2g.1500B.${where}.throughput`, 'Gbit/s', [gbps], { ...o, limit: { name: 'limit.udp-loopback.1500B', value: limits.udp1500Gbps }, note: `1472 B payloads; lost ${big?.[6]}` }));
      recs.push(fromRuns(`net.g2g.1500B.${where}.card-cpu-per-Gbps`, 'cores per Gbit/s', [gbps > 0 ? cardCores / gbps : NaN], { ...o, note: 'sum of the cards\' CPU (GET /v1/metrics, one sample mid-stream) / receiver Gbit/s' }));
    } finally {
      await up.stop();
    }
  }
  return recs;
}

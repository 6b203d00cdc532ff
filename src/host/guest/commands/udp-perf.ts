// `udp-perf send IP | recv`: a UDP packet generator and sink reporting packets per second and Gbps of UDP payload.
// Each datagram starts with a u32 sequence number, so the receiver reports loss. Options: --port (5001), --size
// (payload bytes, 64), --seconds (10), --count (stop after N packets); `--key value` or `--key=value`. The receiver stops after --seconds from its
// first packet, after --count packets, or when the sender has been silent for 2 s.
import { formatIpv4, parseIpv4 } from '../../../devices/net-wire.ts';
import type { ShellCommand } from '../shell.ts';

const IDLE_MS = 2000;
const BATCH = 32;
/** Longest wait for ring space before trying again (a device that never interrupts cannot hang the sender). */
const TX_WAIT_MS = 20;

export const udpPerf: ShellCommand = {
  name: 'udp-perf',
  summary: 'UDP throughput: udp-perf send IP | recv [--port P] [--size B] [--seconds S] [--count N]',
  async run({ args, k, out, err, signal }) {
    const opts = new Map<string, string>();
    const positional: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (!a.startsWith('--')) { positional.push(a); continue; }
      const eq = a.indexOf('=');
      if (eq >= 0) opts.set(a.slice(2, eq), a.slice(eq + 1));
      else opts.set(a.slice(2), args[++i] ?? '');
    }
    const [mode, target] = positional;
    const port = Number(opts.get('port') ?? 5001);
    const size = Number(opts.get('size') ?? 64);
    const seconds = Number(opts.get('seconds') ?? 10);
    const count = opts.has('count') ? Number(opts.get('count')) : Infinity;
    if (!(port >= 1 && port <= 65535) || !(size >= 4 && size <= 1472) || !(seconds > 0) || !(count >= 1)) {
      err('udp-perf: bad option (port 1-65535, size 4-1472, seconds > 0, count >= 1)\n');
      return 2;
    }
    const net = k.net;
    const p = k.platform;
    await net.ready();
    if (mode === 'send') {
      const dst = parseIpv4(target ?? '');
      if (dst === undefined) { err('udp-perf: send needs a destination IP\n'); return 2; }
      const r = net.route(dst);
      if (!r) { err('udp-perf: Network is unreachable\n'); return 2; }
      if (!(await net.resolveNextHop(dst))) { err(`udp-perf: no ARP reply from the next hop toward ${formatIpv4(dst)}\n`); return 1; }
      const sock = net.udp.bind();
      const payload = new Uint8Array(size);
      const dv = new DataView(payload.buffer);
      const dev = r.iface.dev;
      const start = p.nowNs();
      const end = start + BigInt(Math.round(seconds * 1e9));
      let sent = 0;
      let retries = 0;
      try {
        while (sent < count && !signal.aborted && p.nowNs() < end) {
          dv.setUint32(0, sent);
          const busy = dev?.stats.txBusy ?? 0;
          if (!sock.sendto(dst, port, payload)) { err('udp-perf: send failed\n'); return 1; }
          if ((dev?.stats.txBusy ?? 0) !== busy) { // ring full: wait for the device to drain, send the same sequence again
            retries++;
            await (dev?.whenTxReady ? Promise.race([dev.whenTxReady(), p.sleep(TX_WAIT_MS)]) : p.yield());
            continue;
          }
          sent++;
          if (sent % BATCH === 0) await p.yield();
        }
      } finally {
        sock.close();
      }
      const secs = Math.max(1e-9, Number(p.nowNs() - start) / 1e9);
      out(`udp-perf: sent ${sent} packets (${sent * size} bytes) to ${formatIpv4(dst)}:${port} in ${secs.toFixed(3)} s: `
        + `${Math.round(sent / secs)} pps, ${((sent * size * 8) / secs / 1e9).toFixed(3)} Gbps, ring-full retries ${retries}\n`);
      return 0;
    }
    if (mode === 'recv') {
      let sock;
      try {
        sock = net.udp.bind(port);
      } catch (e) {
        err(`udp-perf: ${e instanceof Error ? e.message : String(e)}\n`);
        return 1;
      }
      out(`udp-perf: listening on udp port ${port}\n`);
      let got = 0;
      let bytes = 0;
      let maxSeq = -1;
      let first: bigint | undefined;
      let last = p.nowNs();
      try {
        while (got < count && !signal.aborted) {
          const limit = first === undefined ? seconds * 1000 : Math.min(IDLE_MS, Number(first + BigInt(Math.round(seconds * 1e9)) - p.nowNs()) / 1e6);
          if (limit <= 0) break;
          const d = await sock.recv(limit, signal);
          if (!d) break;
          first ??= p.nowNs();
          last = p.nowNs();
          got++;
          bytes += d.data.length;
          if (d.data.length >= 4) maxSeq = Math.max(maxSeq, new DataView(d.data.buffer, d.data.byteOffset).getUint32(0));
        }
      } finally {
        sock.close();
      }
      const secs = first === undefined ? 0 : Math.max(1e-9, Number(last - first) / 1e9);
      const lost = Math.max(0, maxSeq + 1 - got);
      out(`udp-perf: received ${got} packets (${bytes} bytes) in ${secs.toFixed(3)} s: `
        + `${secs > 0 ? Math.round(got / secs) : 0} pps, ${secs > 0 ? ((bytes * 8) / secs / 1e9).toFixed(3) : '0.000'} Gbps, lost ${lost}\n`);
      return got > 0 ? 0 : 1;
    }
    err('usage: udp-perf send IP | recv [--port P] [--size B] [--seconds S] [--count N]\n');
    return 2;
  },
};

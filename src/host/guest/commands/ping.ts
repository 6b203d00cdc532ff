// `ping [-c N] [-s SIZE] [-i SECS] [-W SECS] [-t TTL] <ip>`: ICMP echo with Linux iputils output (per-reply lines with
// rtt, then "N packets transmitted, M received, X% packet loss" and rtt min/avg/max/mdev). Exit 0 if any reply, 1 if
// none, 2 on errors. Without -c it runs until ^C.
import { formatIpv4, parseIpv4 } from '../../../devices/net-wire.ts';
import type { ShellCommand } from '../shell.ts';

export const ping: ShellCommand = {
  name: 'ping',
  summary: 'ICMP echo: ping [-c N] [-s SIZE] [-i SECS] [-W SECS] [-t TTL] IP',
  async run({ args, k, out, err, signal }) {
    let count = Infinity;
    let size = 56;
    let intervalMs = 1000;
    let waitMs = 1000;
    let ttl: number | undefined;
    let target: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const num = (): number => Number(args[++i]);
      if (a === '-c') count = num();
      else if (a === '-s') size = num();
      else if (a === '-i') intervalMs = num() * 1000;
      else if (a === '-W') waitMs = num() * 1000;
      else if (a === '-t') ttl = num();
      else if (a.startsWith('-')) { err(`ping: invalid option -- '${a.slice(1)}'\n`); return 2; }
      else target = a;
    }
    if (!(count >= 1) || !Number.isInteger(size) || size < 0 || size > 1472 || !(intervalMs >= 0) || !(waitMs > 0) || (ttl !== undefined && !(ttl >= 1 && ttl <= 255))) {
      err('ping: invalid argument\n');
      return 2;
    }
    if (target === undefined) { err('ping: usage error: Destination address required\n'); return 2; }
    const dst = parseIpv4(target);
    if (dst === undefined) { err(`ping: ${target}: Name or service not known\n`); return 2; }
    const net = k.net;
    await net.ready();
    if (!net.route(dst)) { err('ping: connect: Network is unreachable\n'); return 2; }
    const p = k.platform;
    const id = Math.floor(Math.random() * 0x10000);
    out(`PING ${formatIpv4(dst)} (${formatIpv4(dst)}) ${size}(${size + 28}) bytes of data.\n`);
    const rtts: number[] = [];
    const pending: Promise<void>[] = [];
    let sent = 0;
    let errors = 0;
    const start = p.nowNs();
    // Like iputils: a request every interval, replies printed as they come (each waits up to -W for its reply).
    for (let seq = 1; seq <= count && !signal.aborted; seq++) {
      const t0 = p.nowNs();
      sent++;
      pending.push(net.ping(dst, id, seq & 0xffff, size, waitMs, ttl).then((r) => {
        if (r === 'unreachable') {
          errors++;
          err('ping: sendmsg: Network is unreachable\n');
        } else if (r) {
          const ms = Number(p.nowNs() - t0) / 1e6;
          rtts.push(ms);
          out(`${r.bytes} bytes from ${formatIpv4(r.from)}: icmp_seq=${seq} ttl=${r.ttl} time=${fmtMs(ms)} ms\n`);
        }
      }));
      if (seq < count && !signal.aborted) await Promise.race([p.sleep(intervalMs), abortPromise(signal)]);
    }
    await Promise.all(pending);
    const total = Math.round(Number(p.nowNs() - start) / 1e6);
    const loss = sent === 0 ? 0 : Math.round(((sent - rtts.length) / sent) * 100);
    out(`\n--- ${formatIpv4(dst)} ping statistics ---\n`);
    out(`${sent} packets transmitted, ${rtts.length} received, ${loss}% packet loss, time ${total}ms\n`);
    if (rtts.length > 0) {
      const min = Math.min(...rtts);
      const max = Math.max(...rtts);
      const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
      const mdev = Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length);
      out(`rtt min/avg/max/mdev = ${[min, avg, max, mdev].map((x) => x.toFixed(3)).join('/')} ms\n`);
    }
    return rtts.length > 0 ? 0 : errors > 0 ? 2 : 1;
  },
};

const abortPromise = (signal: AbortSignal): Promise<void> =>
  new Promise((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }); });

const fmtMs = (ms: number): string => (ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

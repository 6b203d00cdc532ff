// `nc`: netcat-style UDP and TCP. `nc -u IP PORT [TEXT…]` sends TEXT as one datagram and prints a reply (waits -w
// seconds, default 1). `nc -u -l PORT` is a UDP echo server: prints each datagram and sends it back, until ^C, -c N
// datagrams, or -w seconds of silence. Without -u: `nc IP PORT [TEXT…]` connects, sends TEXT and prints what comes back
// until the peer closes or -w seconds pass.
import { formatIpv4, parseIpv4 } from '../../../devices/net-wire.ts';
import type { ShellCommand } from '../shell.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

export const nc: ShellCommand = {
  name: 'nc',
  summary: 'netcat: nc [-u] IP PORT [TEXT] | nc -u -l [-c N] [-w S] PORT (UDP echo server)',
  async run({ args, k, out, err, signal }) {
    let udp = false;
    let listen = false;
    let waitS: number | undefined;
    let maxCount = Infinity;
    let verbose = false;
    const pos: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-u') udp = true;
      else if (a === '-l') listen = true;
      else if (a === '-v') verbose = true;
      else if (a === '-w') waitS = Number(args[++i]);
      else if (a === '-c') maxCount = Number(args[++i]);
      else if (a === '-p') pos.unshift(args[++i] ?? '');
      else if (/^-[ulv]+$/u.test(a)) { udp ||= a.includes('u'); listen ||= a.includes('l'); verbose ||= a.includes('v'); }
      else pos.push(a);
    }
    if ((waitS !== undefined && !(waitS > 0)) || !(maxCount >= 1)) { err('nc: invalid -w or -c\n'); return 2; }
    const net = k.net;
    await net.ready();
    if (listen) {
      const port = Number(pos[0]);
      if (!(port >= 1 && port <= 65535)) { err('nc: missing or invalid port\n'); return 2; }
      if (!udp) { err('nc: only UDP listening (-u -l) is supported\n'); return 2; }
      let sock;
      try { sock = net.udp.bind(port); } catch (e) { err(`nc: ${e instanceof Error ? e.message : String(e)}\n`); return 1; }
      if (verbose) err(`Listening on 0.0.0.0 ${port}\n`);
      let n = 0;
      try {
        while (n < maxCount && !signal.aborted) {
          const d = await sock.recv(waitS === undefined ? undefined : waitS * 1000, signal);
          if (!d) break;
          n++;
          if (verbose) err(`Received ${d.data.length} bytes from ${formatIpv4(d.src)}:${d.srcPort}\n`);
          out(dec.decode(d.data));
          sock.sendto(d.src, d.srcPort, d.data, { src: d.dst });
        }
      } finally {
        sock.close();
      }
      return 0;
    }
    const [host, portText, ...text] = pos;
    const dst = parseIpv4(host ?? '');
    const port = Number(portText);
    if (dst === undefined || !(port >= 1 && port <= 65535)) { err('usage: nc [-u] IP PORT [TEXT…]\n'); return 2; }
    const payload = enc.encode(text.length > 0 ? `${text.join(' ')}\n` : '\n');
    const waitMs = (waitS ?? 1) * 1000;
    if (udp) {
      if (!net.route(dst)) { err('nc: Network is unreachable\n'); return 1; }
      const sock = net.udp.bind();
      try {
        sock.sendto(dst, port, payload);
        const reply = await sock.recv(waitMs, signal);
        if (reply) out(dec.decode(reply.data));
      } finally {
        sock.close();
      }
      return 0;
    }
    try {
      const conn = await net.tcp.connect(dst, port);
      if (verbose) err(`Connection to ${formatIpv4(dst)} ${port} port [tcp/*] succeeded!\n`);
      await conn.write(payload);
      for (;;) {
        const chunk = await conn.read(waitMs, signal);
        if (!chunk) break;
        out(dec.decode(chunk));
      }
      await conn.close();
      return 0;
    } catch (e) {
      err(`nc: connect to ${formatIpv4(dst)} port ${port} (tcp) failed: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
  },
};

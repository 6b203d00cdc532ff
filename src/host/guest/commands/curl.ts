// `curl [-i] [-I] [-s] [-f] [-X METHOD] [-H 'k: v'] [-d DATA] [-m SECS] http://IP[:PORT]/PATH`: HTTP/1.1 over the guest
// TCP; prints the body (-i: status line and headers first). Exit codes follow curl: 7 connect, 28 timeout, 22 -f on
// HTTP ≥ 400, 3 bad URL, 6 host is not an IPv4 address (no DNS), 56 receive failure.
import { httpRequest, parseHttpUrl, HttpError } from '../net/http.ts';
import type { ShellCommand } from '../shell.ts';

export const curl: ShellCommand = {
  name: 'curl',
  summary: 'HTTP client: curl [-i] [-X METHOD] [-H "k: v"] [-d DATA] [-m SECS] http://IP[:PORT]/PATH',
  async run({ args, k, out, err, signal }) {
    let method: string | undefined;
    let include = false;
    let headOnly = false;
    let fail = false;
    let silent = false;
    let data: string | undefined;
    let maxTime = 30;
    let url: string | undefined;
    const headers: [string, string][] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-X' || a === '--request') method = args[++i];
      else if (a === '-H' || a === '--header') {
        const h = args[++i] ?? '';
        const c = h.indexOf(':');
        if (c <= 0) { err(`curl: option -H: bad header "${h}"\n`); return 2; }
        headers.push([h.slice(0, c).trim(), h.slice(c + 1).trim()]);
      } else if (a === '-d' || a === '--data') data = args[++i];
      else if (a === '-m' || a === '--max-time') maxTime = Number(args[++i]);
      else if (a === '-i' || a === '--include') include = true;
      else if (a === '-I' || a === '--head') headOnly = true;
      else if (a === '-f' || a === '--fail') fail = true;
      else if (a === '-s' || a === '--silent' || a === '-sS' || a === '-S') silent = true;
      else if (a.startsWith('-')) { err(`curl: option ${a}: is unknown\n`); return 2; }
      else url = a;
    }
    if (url === undefined) { err('curl: no URL specified!\n'); return 2; }
    if (!(maxTime > 0)) { err('curl: option -m: expected a proper numerical parameter\n'); return 2; }
    await k.net.ready();
    try {
      const u = parseHttpUrl(url);
      const body = data === undefined ? undefined : new TextEncoder().encode(data);
      if (body && !headers.some(([h]) => h.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
      const res = await httpRequest(k.net, {
        method: method ?? (headOnly ? 'HEAD' : body ? 'POST' : 'GET'),
        url: u,
        headers,
        ...(body ? { body } : {}),
        timeoutMs: maxTime * 1000,
        signal,
      });
      if (fail && res.status >= 400) {
        if (!silent) err(`curl: (22) The requested URL returned error: ${res.status}\n`);
        return 22;
      }
      if (include || headOnly) out(`${res.head}\r\n\r\n`);
      if (!headOnly) out(new TextDecoder().decode(res.body));
      return 0;
    } catch (e) {
      if (e instanceof HttpError) {
        if (!silent) err(`curl: (${e.exitCode}) ${e.message}\n`);
        return e.exitCode;
      }
      throw e;
    }
  },
};

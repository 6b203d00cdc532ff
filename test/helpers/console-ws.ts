// A websocket client for the control plane's interactive console (/v1/instances/:id/console/ws), for whole-system
// tests: collects what the guest prints and waits for a pattern, as a user watching the serial console would.
import WebSocket from 'ws';

export interface ConsoleClient {
  /** Everything received so far. */
  text(): string;
  send(data: string): void;
  /** Wait until the text received after `from` matches `re`; returns the match. */
  waitFor(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpExecArray>;
  close(): Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

export function wsUrl(httpBase: string, path: string): string {
  return httpBase.replace(/^http/, 'ws') + path;
}

/** Open the console; rejects with the HTTP status if the upgrade is refused ("Unexpected server response: 404"). */
export function openConsole(url: string, opts: { apiKey?: string } = {}): Promise<ConsoleClient> {
  const ws = new WebSocket(url, opts.apiKey !== undefined ? { headers: { authorization: `Bearer ${opts.apiKey}` } } : {});
  let received = '';
  const waiters = new Set<() => void>();
  ws.on('message', (d: Buffer) => {
    received += d.toString('utf8');
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }); for (const w of waiters) w(); });
  });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        text: () => received,
        send: (data) => ws.send(data),
        closed,
        waitFor(re, o = {}) {
          const from = o.from ?? 0;
          return new Promise((res, rej) => {
            const check = () => {
              const m = re.exec(received.slice(from));
              if (m) { done(); res(m); } else if (ws.readyState === WebSocket.CLOSED) { done(); rej(new Error(`console closed before ${re}; got:\n${received.slice(-2000)}`)); }
            };
            const timer = setTimeout(() => { done(); rej(new Error(`timed out waiting for ${re}; got:\n${received.slice(-2000)}`)); }, o.timeoutMs ?? 60_000);
            const done = () => { clearTimeout(timer); waiters.delete(check); };
            waiters.add(check);
            check();
          });
        },
        async close() {
          if (ws.readyState === WebSocket.CLOSED) return;
          ws.close();
          await closed;
        },
      });
    });
  });
}

// Bounded waiting for the suite: poll a condition between event-loop turns until it holds or the deadline passes.
// The deadline bounds a misbehaving card; a conforming one never makes a test wait for it.
export async function pollUntil(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; ; i++) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    // Yield to I/O (socket frames) and, every so often, to timers too.
    await new Promise<void>((r) => (i % 64 === 63 ? setTimeout(r, 1) : setImmediate(r)));
  }
}

/** Race a promise against a deadline; rejects with `what timed out`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

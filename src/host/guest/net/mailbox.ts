// A queue that async readers wait on with an optional timeout and abort signal (socket receive queues, accept queues).
// Timeouts ride on GuestPlatform.sleep, so guest tests run them in virtual time.

export type Sleep = (ms: number) => Promise<void>;

interface Waiter<T> { resolve(v: T | undefined): void }

export class Mailbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private closedWith: Error | null | undefined;

  constructor(private readonly sleep: Sleep, readonly capacity = Infinity) {}

  get length(): number { return this.items.length; }
  get closed(): boolean { return this.closedWith !== undefined; }

  /** Hand an item to the oldest waiter or queue it; false when full or closed (the caller counts the drop). */
  push(item: T): boolean {
    if (this.closedWith !== undefined) return false;
    const w = this.waiters.shift();
    if (w) {
      w.resolve(item);
      return true;
    }
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  /** Put an item back at the head (a reader took more than it could use). */
  unshift(item: T): void { this.items.unshift(item); }

  /**
   * The next item; undefined on timeout, abort, or when closed and drained. Rejects with the close error if the
   * mailbox was closed with one (e.g. connection reset) and is drained.
   */
  take(timeoutMs?: number, signal?: AbortSignal): Promise<T | undefined> {
    const first = this.items.shift();
    if (first !== undefined) return Promise.resolve(first);
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.closedWith === null || signal?.aborted) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      let done = false;
      const w: Waiter<T> & { reject?: (e: Error) => void } = {
        resolve: (v) => {
          if (done) return;
          done = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          if (done) return;
          done = true;
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const drop = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const onAbort = (): void => { drop(); w.resolve(undefined); };
      signal?.addEventListener('abort', onAbort);
      this.waiters.push(w);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        void this.sleep(timeoutMs).then(() => { drop(); w.resolve(undefined); });
      }
    });
  }

  /** No more items: waiters get undefined (or `err`). */
  close(err?: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = err ?? null;
    for (const w of this.waiters.splice(0)) {
      const r = (w as { reject?: (e: Error) => void }).reject;
      if (err && r) r(err);
      else w.resolve(undefined);
    }
  }
}

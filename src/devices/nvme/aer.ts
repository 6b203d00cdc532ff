// Asynchronous events (NVMe Base 1.4 §5.2; specs.md §2.8): outstanding Async Event Requests, events waiting for one,
// and per-log-page masking (after an event is reported, events naming the same log page stay masked until the host
// reads that page with RAE = 0).
import type { Command } from './command.ts';

export interface AsyncEvent {
  /** DW0 bits 2:0. */
  readonly type: number;
  /** DW0 bits 15:8. */
  readonly info: number;
  /** DW0 bits 23:16: the log page to read. */
  readonly lid: number;
}

export const eventDw0 = (e: AsyncEvent): number => (e.type & 7) | ((e.info & 0xff) << 8) | ((e.lid & 0xff) << 16);

export class AsyncEvents {
  /** Outstanding Async Event Request commands, oldest first. */
  readonly waiting: Command[] = [];
  private readonly pending: AsyncEvent[] = [];
  private readonly masked = new Set<number>();

  /** Queue an event (an identical pending one is not queued twice). */
  post(e: AsyncEvent): void {
    if (this.pending.some((p) => p.type === e.type && p.info === e.info && p.lid === e.lid)) return;
    this.pending.push(e);
  }

  /** Pair waiting requests with unmasked pending events; masks each delivered event's log page. */
  match(): [Command, AsyncEvent][] {
    const out: [Command, AsyncEvent][] = [];
    for (let i = 0; i < this.pending.length && this.waiting.length > 0;) {
      const e = this.pending[i]!;
      if (this.masked.has(e.lid)) { i++; continue; }
      this.pending.splice(i, 1);
      this.masked.add(e.lid);
      out.push([this.waiting.shift()!, e]);
    }
    return out;
  }

  /** The host read log page `lid`; with RAE = 0 that unmasks its events. */
  logRead(lid: number, rae: boolean): void {
    if (!rae) this.masked.delete(lid);
  }

  pendingCount(): number {
    return this.pending.length;
  }

  /** Controller reset: outstanding requests are dropped without completions, events and masks cleared. */
  reset(): void {
    this.waiting.length = 0;
    this.pending.length = 0;
    this.masked.clear();
  }
}

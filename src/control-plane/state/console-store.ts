// Cached console output per instance: what the card has sent so far and the offset to ask it for next.
import { prepared, type Db } from './db.ts';

/** Keep at most this much console text per instance (the tail); EC2's GetConsoleOutput keeps the last 64 KB. */
export const CONSOLE_CACHE_MAX_CHARS = 256 * 1024;

export interface ConsoleCacheEntry {
  data: string;
  nextOffset: number;
  fetchedAt: string;
}

export class ConsoleStore {
  readonly #db: Db;
  readonly #maxChars: number;

  constructor(db: Db, maxChars = CONSOLE_CACHE_MAX_CHARS) {
    this.#db = db;
    this.#maxChars = maxChars;
  }

  get(instanceId: string): ConsoleCacheEntry {
    const row = prepared(this.#db, 'SELECT data, next_offset, fetched_at FROM console_cache WHERE instance_id = ?').get(instanceId) as
      { data: string; next_offset: number; fetched_at: string } | undefined;
    return row ? { data: row.data, nextOffset: row.next_offset, fetchedAt: row.fetched_at } : { data: '', nextOffset: 0, fetchedAt: '' };
  }

  /** Append `data` fetched from `fromOffset`; ignored if another request already advanced past that offset. */
  append(instanceId: string, fromOffset: number, data: string, nextOffset: number): ConsoleCacheEntry {
    const at = new Date().toISOString();
    this.#db.transaction(() => {
      const cur = this.get(instanceId);
      if (cur.nextOffset !== fromOffset) return;
      let text = cur.data + data;
      if (text.length > this.#maxChars) text = text.slice(text.length - this.#maxChars);
      prepared(this.#db, `INSERT INTO console_cache (instance_id, data, next_offset, fetched_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(instance_id) DO UPDATE SET data = excluded.data, next_offset = excluded.next_offset, fetched_at = excluded.fetched_at`)
        .run(instanceId, text, nextOffset, at);
    })();
    return this.get(instanceId);
  }
}

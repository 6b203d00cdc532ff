// Reconnecting to a card that went away (docs/reliability.md § card crash and restart): try again with exponential
// backoff until it answers or the caller gives up. Used by the hypervisor's management channel (src/cli/host.ts) and
// by each pCPU worker's link connection (host-link.ts), so the host and its guests outlive a card restart.

export interface ReconnectPolicy {
  /** First delay, ms. */
  initialMs: number;
  /** Delay cap, ms. */
  maxMs: number;
}

/** A card process restarts in about a second (secure boot, then the link); retry quickly, then every 2 s. */
export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 100, maxMs: 2_000 };

/** Call `attempt` until it resolves; between failures wait initialMs, ×2 each time, capped at maxMs. Resolves with
 *  undefined once `stopped()` is true. `onRetry` hears each failure (for a rate-limited log line). */
export async function withBackoff<T>(
  attempt: () => Promise<T>,
  o: { policy?: ReconnectPolicy; stopped?: () => boolean; onRetry?: (failures: number, err: Error, delayMs: number) => void } = {},
): Promise<T | undefined> {
  const p = o.policy ?? DEFAULT_RECONNECT;
  for (let failures = 0; ; failures++) {
    if (o.stopped?.() === true) return undefined;
    try {
      return await attempt();
    } catch (e) {
      const delayMs = Math.min(p.maxMs, p.initialMs * 2 ** Math.min(failures, 16));
      o.onRetry?.(failures + 1, e as Error, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

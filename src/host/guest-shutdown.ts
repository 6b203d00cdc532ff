// Orderly shutdown with a deadline, as an ACPI power-button press: ask the guest kernel to power off (it quiesces its
// drivers — NVMe CC.SHN — then halts); if it has not finished within the grace period, the host stops it by force.

/** What the host can ask of a running guest. */
export interface ShutdownTarget {
  poweroff(): Promise<void>;
}

/** `orderly`: the guest finished its poweroff in time; `forced`: the grace period ran out (or poweroff failed). */
export type ShutdownOutcome = 'orderly' | 'forced';

/** A cancellable wait, injected so tests decide when the grace period ends. */
export type GraceTimer = (ms: number) => { expired: Promise<void>; cancel(): void };

export const realGraceTimer: GraceTimer = (ms) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<void>((r) => { timer = setTimeout(r, ms); });
  return { expired, cancel: () => clearTimeout(timer) };
};

/** Default grace period before a stop is forced (EC2 waits a few minutes; a TypeScript guest needs far less). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
/** Upper bound accepted from a management request. */
export const MAX_SHUTDOWN_GRACE_MS = 600_000;

/** Press the power button and wait at most `graceMs` for the guest to power off. Never throws. */
export async function shutdownWithGrace(guest: ShutdownTarget, graceMs: number, timer: GraceTimer = realGraceTimer): Promise<ShutdownOutcome> {
  const grace = timer(Math.max(0, Math.min(graceMs, MAX_SHUTDOWN_GRACE_MS)));
  try {
    return await Promise.race([
      guest.poweroff().then(() => 'orderly' as const, () => 'forced' as const),
      grace.expired.then(() => 'forced' as const),
    ]);
  } finally {
    grace.cancel();
  }
}

// The ACPI-like shutdown: orderly when the guest powers off within the grace period, forced when it does not.
import t from 'tap';
import { shutdownWithGrace, type GraceTimer } from '../../src/host/guest-shutdown.ts';

/** A grace timer the test ends by hand; records the requested duration. */
function manualTimer(): { timer: GraceTimer; expire(): void; requested: number[]; cancelled: number } {
  let expire = () => {};
  const state = { requested: [] as number[], cancelled: 0 };
  const timer: GraceTimer = (ms) => {
    state.requested.push(ms);
    return { expired: new Promise<void>((r) => { expire = r; }), cancel: () => { state.cancelled++; } };
  };
  return { timer, expire: () => expire(), get requested() { return state.requested; }, get cancelled() { return state.cancelled; } };
}

t.test('a guest that powers off within the grace period is stopped in order', async (t) => {
  const m = manualTimer();
  let asked = 0;
  const outcome = await shutdownWithGrace({ poweroff: async () => { asked++; } }, 5000, m.timer);
  t.equal(outcome, 'orderly');
  t.equal(asked, 1, 'the guest was asked once');
  t.same(m.requested, [5000], 'the grace period is the one configured');
  t.equal(m.cancelled, 1, 'the grace timer is cancelled once the guest is down');
});

t.test('a guest that ignores the power button is stopped by force when the grace period ends', async (t) => {
  const m = manualTimer();
  const hung = { poweroff: () => new Promise<void>(() => {}) };
  const p = shutdownWithGrace(hung, 250, m.timer);
  m.expire();
  t.equal(await p, 'forced');
});

t.test('a poweroff that fails counts as forced, and nothing throws', async (t) => {
  const m = manualTimer();
  t.equal(await shutdownWithGrace({ poweroff: () => Promise.reject(new Error('driver wedged')) }, 100, m.timer), 'forced');
});

t.test('the grace period is clamped to 0..600 s', async (t) => {
  const m = manualTimer();
  await shutdownWithGrace({ poweroff: async () => {} }, -5, m.timer);
  await shutdownWithGrace({ poweroff: async () => {} }, 10_000_000, m.timer);
  t.same(m.requested, [0, 600_000]);
});

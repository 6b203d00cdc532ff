// The per-event log rate limit on card devices: a guest cannot flood the card's log.
import t from 'tap';
import { limitDeviceLog } from '../../src/nitro-card/log-limiter.ts';

t.test('each event logs at most `burst` times per window; the rest are reported once as log-suppressed', async (t) => {
  const lines: { level: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object) => { lines.push({ level, obj: obj as Record<string, unknown> }); };
  let now = 0;
  const log = limitDeviceLog({ debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, { burst: 3, windowMs: 1000 }, () => now);
  for (let i = 0; i < 100; i++) log.warn({ event: 'nvme.doorbell-invalid-value' });
  for (let i = 0; i < 2; i++) log.warn({ event: 'nvme.other' });
  for (let i = 0; i < 5; i++) log.error({ event: 'nvme.internal-error' });
  t.equal(lines.filter((l) => l.obj.event === 'nvme.doorbell-invalid-value').length, 3, 'a flood is cut at the burst');
  t.equal(lines.filter((l) => l.obj.event === 'nvme.other').length, 2, 'other events have their own budget');
  t.equal(lines.filter((l) => l.level === 'error').length, 5, 'errors are never suppressed');
  now = 1000;
  log.warn({ event: 'nvme.doorbell-invalid-value' });
  const sup = lines.find((l) => l.obj.event === 'log-suppressed');
  t.same(sup?.obj, { event: 'log-suppressed', suppressedEvent: 'nvme.doorbell-invalid-value', count: 97, windowMs: 1000 });
  t.equal(lines.at(-1)?.obj.event, 'nvme.doorbell-invalid-value', 'a new window logs again');
});

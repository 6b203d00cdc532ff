// The EDU group against our card: `nitrolab card` launched through its management API with devices: ['edu'] (as the
// suite's --mgmt launch does) passes every EDU case, and the edu function passes the PCI config cases too.
import t from 'tap';
import { socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured, startCardProcess } from './helpers.ts';

t.test('our card process passes every EDU case, mandatory and optional', async (t) => {
  const card = await startCardProcess(t);
  const r = await runCaptured({ connector: socketConnector(card.linkPath), timeoutMs: 3000, mgmt: { url: card.mgmtUrl, token: card.token }, only: ['EDU', 'PCI-CFG'] });
  t.ok(r.functions.some((f) => f.vendorId === 0x1d0f && f.deviceId === 0xed00), 'the launched instance has an edu function');
  t.same(failedIds(r), [], 'no failures at all');
  const edu = r.records.filter((x) => x.group === 'EDU');
  t.equal(edu.length, 16);
  t.ok(edu.every((x) => x.status === 'pass'), 'every EDU case ran and passed');
  t.equal(r.exitCode, 0);
  t.match(r.tap, /ok \d+ - EDU-008 \[M\]/);
});

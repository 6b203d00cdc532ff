// The student-style Python card (examples/edu-card/) against the suite: as written it passes LINK, PCI-CFG and EDU
// with no failure at all; each deliberate bug (--bug) fails exactly the EDU IDs that check what it breaks.
import t from 'tap';
import { socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured } from './helpers.ts';
import { pythonMissing, startPythonEduCard } from './fixtures/python-edu-card.ts';

/** Without python3 the card cannot run; under CI=true that is a failure (.ci/run installs it), never a skip. */
const missing = pythonMissing();
const skip = missing !== undefined && process.env['CI'] !== 'true' ? `the Python card needs python3: ${missing}` : false;

t.test('the Python edu card passes LINK, PCI-CFG and EDU', { skip }, async (t) => {
  const card = await startPythonEduCard(t);
  t.match(card.banner, /fn 1 = edu 1d0f:ed00$/u);
  const r = await runCaptured({ connector: socketConnector(card.socket), timeoutMs: 3000, only: ['LINK', 'PCI-CFG', 'EDU'] });
  t.same(r.functions.map((f) => [f.fn, f.vendorId, f.deviceId, f.classCode]), [[1, 0x1d0f, 0xed00, 0xff0000]], 'fn 1 found by probing');
  t.same(failedIds(r), [], 'no failures, mandatory or optional');
  t.equal(r.records.filter((x) => x.group === 'EDU' && x.status === 'pass').length, 16, 'all 16 EDU cases ran and passed');
  t.ok(r.records.filter((x) => x.group === 'LINK').every((x) => x.status === 'pass'), 'every LINK case passes');
  t.equal(r.exitCode, 0);
});

const EXPECT: [string, string[]][] = [
  ['fact-overflow', ['EDU-005']],
  ['no-msix', ['EDU-010', 'EDU-011']],
  ['id-writable', ['EDU-003']],
  ['dma-error-ignored', ['EDU-008', 'EDU-009']],
];
for (const [bug, ids] of EXPECT) {
  t.test(`--bug ${bug} fails exactly ${ids.join(', ')}`, { skip }, async (t) => {
    const card = await startPythonEduCard(t, bug);
    t.match(card.banner, new RegExp(`deliberate bug: ${bug} `, 'u'));
    const r = await runCaptured({ connector: socketConnector(card.socket), timeoutMs: 2000, only: ['EDU'] });
    t.same(failedIds(r), ids);
    t.equal(r.exitCode, 1, 'a mandatory failure makes the exit status non-zero');
    t.equal(card.stderr(), '', 'the card itself did not crash or complain');
  });
}

// Each group of the suite detects at least one deliberately broken card, with the right failing ID(s); the same card
// without a fault passes every mandatory case (so the failures come from the fault, not the fixture).
import path from 'node:path';
import t, { type Test } from 'tap';
import { socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured, tmpDir } from './helpers.ts';
import { startBrokenCard, type Fault } from './fixtures/broken-card.ts';

/** fault → the IDs that must fail (others may fail too), and the prefixes worth running. */
const EXPECT: [Fault, string[], string[]][] = [
  ['unknown-cmd-hangs', ['LINK-006'], ['LINK']],
  ['ignore-ro-mask', ['PCI-CFG-003'], ['PCI-CFG']],
  ['wrong-msix-table-size', ['PCI-MSIX-001', 'PCI-MSIX-002'], ['PCI-MSIX']],
  ['msix-unmasked-at-reset', ['PCI-MSIX-004'], ['PCI-MSIX']],
  ['no-cfs-on-bad-cc', ['NVME-REG-004'], ['NVME-REG']],
  ['shutdown-never-completes', ['NVME-REG-006'], ['NVME-REG']],
  ['wrong-status-code', ['NVME-ADM-018', 'NVME-NVM-013'], ['NVME-ADM', 'NVME-NVM']],
  ['dma-outside-window-ok', ['NVME-NVM-008'], ['NVME-NVM']],
];

async function run(t: Test, fault: Fault, only?: string[]) {
  const sock = path.join(tmpDir(t), 'card.sock');
  const card = await startBrokenCard(sock, fault);
  t.teardown(() => card.close());
  return runCaptured({ connector: socketConnector(sock), timeoutMs: 1000, only });
}

t.test('the fixture card without a fault passes every mandatory case', async (t) => {
  const r = await run(t, 'none');
  t.same(failedIds(r, 'M'), []);
  t.equal(r.exitCode, 0);
  t.ok(r.functions.some((f) => f.fn === 1 && f.kind === 'nvme'), 'fn 1 found by DEVICE_GET_INFO probing, without a management API');
});

for (const [fault, ids, only] of EXPECT) {
  t.test(`fault ${fault} fails ${ids.join(', ')}`, async (t) => {
    const r = await run(t, fault, only);
    const failed = failedIds(r);
    for (const id of ids) t.ok(failed.includes(id), `${id} fails (failed: ${failed.join(', ') || 'none'})`);
    t.equal(r.exitCode, 1, 'a mandatory failure makes the exit status non-zero');
    t.match(r.tap, new RegExp(`not ok \\d+ - ${ids[0]} `));
  });
}

t.test('every device and link group has a fault it detects', async (t) => {
  const groups = new Set(EXPECT.flatMap(([, ids]) => ids.map((id) => id.replace(/-\d+$/, ''))));
  t.same([...groups].sort(), ['LINK', 'NVME-ADM', 'NVME-NVM', 'NVME-REG', 'PCI-CFG', 'PCI-MSIX']);
});

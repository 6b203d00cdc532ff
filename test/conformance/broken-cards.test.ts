// Each group of the suite detects at least one deliberately broken card, with the right failing ID(s); the same card
// without a fault passes every mandatory case (so the failures come from the fault, not the fixture).
import path from 'node:path';
import t, { type Test } from 'tap';
import { socketConnector } from '../../src/conformance/connect.ts';
import { failedIds, runCaptured, tmpDir } from './helpers.ts';
import { startBrokenCard, type Fault } from './fixtures/broken-card.ts';

interface Opts {
  /** The detected IDs are all optional: the exit status stays 0. */
  optionalOnly?: boolean;
  /** Run with the fixture's management API (--mgmt). */
  mgmt?: boolean;
}

/** fault → the IDs that must fail (others may fail too), the prefixes worth running, options. */
const EXPECT: [Fault, string[], string[], Opts?][] = [
  ['unknown-cmd-hangs', ['LINK-006'], ['LINK']],
  ['ignore-ro-mask', ['PCI-CFG-003'], ['PCI-CFG']],
  ['wrong-msix-table-size', ['PCI-MSIX-001', 'PCI-MSIX-002'], ['PCI-MSIX']],
  ['msix-unmasked-at-reset', ['PCI-MSIX-004'], ['PCI-MSIX']],
  ['no-cfs-on-bad-cc', ['NVME-REG-004'], ['NVME-REG']],
  ['shutdown-never-completes', ['NVME-REG-006'], ['NVME-REG']],
  ['wrong-status-code', ['NVME-ADM-018', 'NVME-NVM-013'], ['NVME-ADM', 'NVME-NVM']],
  ['dma-outside-window-ok', ['NVME-NVM-008'], ['NVME-NVM']],
  ['mdts-not-enforced', ['NVME-NVM-014'], ['NVME-NVM']],
  ['aerl-not-enforced', ['NVME-ADM-022'], ['NVME-ADM']],
  ['ns-descriptors-empty', ['NVME-ADM-021'], ['NVME-ADM']],
  ['dma-map-overlap-accepted', ['LINK-017'], ['LINK']],
  ['virtio-features-ok-unchecked', ['VIRTIO-PCI-006'], ['VIRTIO-PCI']],
  ['virtio-no-needs-reset', ['VIRTIO-RING-010', 'VIRTIO-RING-011', 'VIRTIO-RING-012', 'VIRTIO-RING-013'], ['VIRTIO-RING'], { optionalOnly: true }],
  ['virtio-wrong-mac', ['VIRTIO-NET-001'], ['VIRTIO-NET']],
  ['virtio-csum-not-honoured', ['VIRTIO-NET-009'], ['VIRTIO-NET-009', 'VIRTIO-NET-010'], { mgmt: true }],
  ['virtio-csum-always', ['VIRTIO-NET-010'], ['VIRTIO-NET-009', 'VIRTIO-NET-010'], { mgmt: true, optionalOnly: true }],
  ['mgmt-unknown-op', ['MGMT-002'], ['MGMT'], { mgmt: true }],
];

async function run(t: Test, fault: Fault, only?: string[], o: Opts = {}) {
  const sock = path.join(tmpDir(t), 'card.sock');
  const card = await startBrokenCard(sock, fault);
  t.teardown(() => card.close());
  return runCaptured({ connector: socketConnector(sock), timeoutMs: 1000, only, ...(o.mgmt ? { mgmt: { url: card.mgmt.url, token: card.mgmt.token } } : {}) });
}

t.test('the fixture card without a fault passes every mandatory case', async (t) => {
  const r = await run(t, 'none');
  t.same(failedIds(r, 'M'), []);
  t.equal(r.exitCode, 0);
  t.ok(r.functions.some((f) => f.fn === 1 && f.kind === 'nvme'), 'fn 1 found by DEVICE_GET_INFO probing, without a management API');
  t.ok(r.functions.some((f) => f.fn === 2 && f.kind === 'virtio'), 'fn 2 (virtio-net) found too');
  t.ok(r.records.filter((x) => x.group.startsWith('VIRTIO-')).some((x) => x.status === 'pass'), 'virtio cases ran');
});

t.test('the fixture\'s management API launches an instance the MGMT cases accept, without a fault', async (t) => {
  const r = await run(t, 'none', ['MGMT-001', 'MGMT-002', 'MGMT-003'], { mgmt: true });
  t.same(r.records.map((x) => [x.id, x.status]), [['MGMT-001', 'pass'], ['MGMT-002', 'pass'], ['MGMT-003', 'pass']]);
});

t.test('with the fixture\'s management API the virtio packet cases run (its fn 2 answers ARP for 10/8) and pass', async (t) => {
  const r = await run(t, 'none', ['VIRTIO-NET-005', 'VIRTIO-NET-006', 'VIRTIO-NET-007', 'VIRTIO-NET-008', 'VIRTIO-NET-009', 'VIRTIO-NET-010'], { mgmt: true });
  t.same(r.records.filter((x) => x.status !== 'pass').map((x) => `${x.id}: ${x.message}`), []);
});

for (const [fault, ids, only, o = {}] of EXPECT) {
  t.test(`fault ${fault} fails ${ids.join(', ')}`, async (t) => {
    const r = await run(t, fault, only, o);
    const failed = failedIds(r);
    for (const id of ids) t.ok(failed.includes(id), `${id} fails (failed: ${failed.join(', ') || 'none'})`);
    if (o.optionalOnly) t.same(failedIds(r, 'M'), [], 'only optional cases fail, so the exit status stays 0');
    else t.equal(r.exitCode, 1, 'a mandatory failure makes the exit status non-zero');
    t.match(r.tap, new RegExp(`not ok \\d+ - ${ids[0]} `));
  });
}

t.test('every device, link and management group has a fault it detects', async (t) => {
  const groups = new Set(EXPECT.flatMap(([, ids]) => ids.map((id) => id.replace(/-\d+$/, ''))));
  t.same([...groups].sort(), ['LINK', 'MGMT', 'NVME-ADM', 'NVME-NVM', 'NVME-REG', 'PCI-CFG', 'PCI-MSIX', 'VIRTIO-NET', 'VIRTIO-PCI', 'VIRTIO-RING']);
});

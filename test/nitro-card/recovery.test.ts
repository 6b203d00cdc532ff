// Card crash recovery: the instance journal (atomic JSON records, unreadable ones skipped), restoring an instance from
// its record, and reconciliation with the hypervisor's hello VM list (docs/reliability.md § card crash and restart).
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootLogger } from '../../src/common/log.ts';
import type { HelloVm, MgmtRequest } from '../../src/devices/pcie/link/messages.ts';
import { CardInstance, type InstanceState } from '../../src/nitro-card/instances.ts';
import { InstanceLifecycle, REASON } from '../../src/nitro-card/lifecycle.ts';
import type { CardFunction } from '../../src/nitro-card/functions.ts';
import { InstanceJournal, type InstanceRecord } from '../../src/nitro-card/instance-journal.ts';
import { reconcileInstances, restoreInstance } from '../../src/nitro-card/recovery.ts';

const log = createRootLogger({ name: 'test', level: 'silent' });
const req = (n: number) => ({ instanceId: `i-000000000000000${n}`, instanceType: 'm5.large', vcpus: 2, memMiB: 8192, userData: 'echo hi', volumes: [{ volumeId: `vol-000000000000000${n}`, sizeBytes: 1 << 30, deviceName: '/dev/xvda', deleteOnTermination: true }] });

function record(n: number, state: InstanceState): InstanceRecord {
  return {
    version: 1, req: req(n), state, stateReason: 'x', launchedAt: '2026-01-01T00:00:00.000Z',
    transitions: [{ at: '2026-01-01T00:00:00.000Z', from: null, to: 'pending', reason: 'launch requested' }],
    guestMemBytes: 1 << 20, assigned: [{ fn: n, slot: 3, kind: 'nvme-ebs', volumeId: `vol-000000000000000${n}` }],
    fns: [{ fn: n, kind: 'nvme-ebs', volumeId: `vol-000000000000000${n}` }],
  };
}

t.test('the journal replaces records atomically and skips one that does not parse', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nl-journal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const j = new InstanceJournal(dir, log);
  j.save(record(1, 'pending'));
  j.save({ ...record(1, 'running'), stateReason: 'guest booted' });
  j.save(record(2, 'stopped'));
  writeFileSync(join(j.dir, 'i-0000000000000009.json'), '{"version":1,"req":');
  writeFileSync(join(j.dir, 'i-0000000000000003.json.tmp'), 'half a record');
  const all = j.loadAll();
  t.same(all.map((r) => [r.req.instanceId, r.state, r.stateReason]), [['i-0000000000000001', 'running', 'guest booted'], ['i-0000000000000002', 'stopped', 'x']]);
  j.remove('i-0000000000000002');
  t.notOk(readdirSync(j.dir).includes('i-0000000000000002.json'));
  t.throws(() => j.save({ ...record(1, 'running'), req: { ...req(1), instanceId: '../escape' } }), /cannot name a journal file/);
});

t.test('an instance comes back from its record with its state, history, slots and functions', async (t) => {
  const recreated: number[][] = [];
  const inst = await restoreInstance(record(4, 'running'), { log, recreate: async (r) => { recreated.push(r.fns.map((f) => f.fn)); } });
  t.equal(inst.state, 'running');
  t.equal(inst.launchedAt, '2026-01-01T00:00:00.000Z');
  t.same(inst.functions, [{ fn: 4, slot: 3, kind: 'nvme-ebs', volumeId: 'vol-0000000000000004' }]);
  t.same(recreated, [[4]]);
  const gone = await restoreInstance(record(5, 'terminated'), { log, recreate: async () => { throw new Error('must not be called'); } });
  t.equal(gone.state, 'terminated', 'a terminated instance gets no functions');
});

t.test('reconciliation with the hypervisor\'s VMs settles every case of the table', async (t) => {
  const sent: MgmtRequest[] = [];
  let resets = 0;
  const fn = { fn: 1, kind: 'nvme-ebs', pci: { reset: () => { resets++; } } } as unknown as CardFunction;
  const lc = new InstanceLifecycle({
    log, dataDir: '/nonexistent', shutdownGraceMs: 10, firstSlot: 3,
    async command(r) { sent.push(r); return r.op === 'stop-vm' ? { outcome: 'orderly' } : {}; },
    functionsOf: () => [fn], noRoomFor: () => undefined,
  });
  const make = (n: number, state: InstanceState) => { const i = new CardInstance(req(n)); i.state = state; return i; };
  const kept = make(1, 'running');
  const lost = make(2, 'running');
  const booted = make(3, 'pending');
  const halted = make(4, 'running');
  const stopping = make(5, 'stopping');
  const stray = make(6, 'stopped');
  const vms: HelloVm[] = [
    { vmId: kept.req.instanceId, state: 'running', fns: [1] },
    { vmId: booted.req.instanceId, state: 'running', fns: [3] },
    { vmId: halted.req.instanceId, state: 'halted', fns: [4] },
    { vmId: stopping.req.instanceId, state: 'running', fns: [5] },
    { vmId: stray.req.instanceId, state: 'halted', fns: [6] },
    { vmId: 'i-00000000000000ff', state: 'running', fns: [9] },
  ];
  let tornDown = 0;
  const unknown = reconcileInstances([kept, lost, booted, halted, stopping, stray], vms, { log, lifecycle: lc, teardown: async () => { tornDown++; } });
  for (const i of [kept, lost, booted, halted, stopping, stray]) await lc.settled(i);
  t.same(unknown, ['i-00000000000000ff'], 'a VM the card does not know is reported');
  t.equal(kept.state, 'running');
  t.equal(lost.state, 'stopped');
  t.equal(lost.stateReason, REASON.vmLost);
  t.equal(booted.state, 'running', 'pending whose guest runs → running');
  t.equal(halted.state, 'stopped');
  t.equal(stopping.state, 'stopped', 'an interrupted stop is finished');
  t.ok(sent.some((r) => r.op === 'destroy-vm' && r.vmId === stray.req.instanceId), 'the stray VM of a stopped instance is destroyed');
  t.notOk(sent.some((r) => 'vmId' in r && r.vmId === 'i-00000000000000ff'), 'the unknown VM is left alone');
  t.ok(resets > 0, 'functions of the stopped instances were reset');
  t.equal(tornDown, 0);
});

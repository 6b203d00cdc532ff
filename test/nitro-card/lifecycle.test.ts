// The card's instance lifecycle against a scripted hypervisor: EC2 states and codes, wrong-state refusals, the
// orderly-then-forced stop, guest-initiated shutdown, and one operation at a time per instance.
import t from 'tap';
import { createRootLogger } from '../../src/common/log.ts';
import type { MgmtRequest } from '../../src/devices/pcie/link/messages.ts';
import { CardInstance } from '../../src/nitro-card/instances.ts';
import { CardError } from '../../src/nitro-card/mgmt-api.ts';
import { holdsCapacity, InstanceLifecycle, REASON } from '../../src/nitro-card/lifecycle.ts';
import type { CardFunction } from '../../src/nitro-card/functions.ts';

function setup(o: { stopOutcome?: string; noRoom?: string; failStart?: boolean } = {}) {
  const sent: MgmtRequest[] = [];
  let resets = 0;
  const fn = { fn: 1, kind: 'nvme-ebs', volumeId: 'vol-0123456789abcdef0', pci: { reset: () => { resets++; } } } as unknown as CardFunction;
  const lc = new InstanceLifecycle({
    log: createRootLogger({ name: 'test', level: 'silent' }),
    dataDir: '/nonexistent',
    shutdownGraceMs: 1234,
    firstSlot: 3,
    async command(req) {
      sent.push(req);
      if (req.op === 'stop-vm') return { outcome: o.stopOutcome ?? 'orderly' };
      if (req.op === 'start-vm' && o.failStart) throw new CardError('BootFailed', 409, 'no');
      return {};
    },
    functionsOf: () => [fn],
    noRoomFor: () => o.noRoom,
  });
  const inst = new CardInstance({ instanceId: 'i-0123456789abcdef0', instanceType: 'm5.large', vcpus: 2, memMiB: 8192, userData: '', volumes: [] });
  inst.guestMemBytes = 1 << 20;
  return { lc, inst, sent, ops: () => sent.map((r) => r.op), resets: () => resets };
}

const code = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return (e as CardError).code; }
  return undefined;
};

t.test('stop: running → stopping at once → stopped after an orderly shutdown, VM destroyed, functions reset', async (t) => {
  const s = setup();
  s.inst.moveTo('running', 'booted');
  t.equal(s.lc.stop(s.inst).state, 'stopping');
  await s.lc.settled(s.inst);
  t.equal(s.inst.state, 'stopped');
  t.equal(s.inst.stateReason, REASON.userShutdown);
  t.same(s.ops(), ['stop-vm', 'destroy-vm']);
  const stop = s.sent[0] as Extract<MgmtRequest, { op: 'stop-vm' }>;
  t.equal(stop.graceMs, 1234, 'the configured grace period goes to the hypervisor');
  t.equal(stop.force, false);
  t.equal(s.resets(), 1);
  t.notOk(holdsCapacity(s.inst.state), 'a stopped instance holds no capacity');
});

t.test('a stop forced after the grace period says so in the reason', async (t) => {
  const s = setup({ stopOutcome: 'forced' });
  s.inst.moveTo('running', 'booted');
  s.lc.stop(s.inst);
  await s.lc.settled(s.inst);
  t.match(s.inst.stateReason, /forced after 1234 ms/);
});

t.test('wrong states are refused with IncorrectInstanceState; repeats are no-ops', async (t) => {
  const s = setup();
  t.equal(code(() => s.lc.stop(s.inst)), 'IncorrectInstanceState', 'stop a pending instance');
  t.equal(code(() => s.lc.reboot(s.inst)), 'IncorrectInstanceState', 'reboot a pending instance');
  t.equal(s.lc.start(s.inst).state, 'pending', 'start a pending instance: no-op');
  s.inst.moveTo('running', 'booted');
  s.lc.stop(s.inst);
  t.equal(s.lc.stop(s.inst).state, 'stopping', 'stop while stopping: no-op');
  t.equal(code(() => s.lc.start(s.inst)), 'IncorrectInstanceState', 'start while stopping');
  await s.lc.settled(s.inst);
  t.equal(code(() => s.lc.reboot(s.inst)), 'IncorrectInstanceState', 'reboot a stopped instance');
  s.lc.terminate(s.inst, async () => {});
  await s.lc.settled(s.inst);
  t.equal(s.inst.state, 'terminated');
  t.equal(code(() => s.lc.start(s.inst)), 'IncorrectInstanceState', 'start a terminated instance');
});

t.test('start: stopped → pending, the VM is re-created with its functions; no room → InsufficientCapacity', async (t) => {
  const s = setup();
  s.inst.moveTo('stopped', 'x');
  t.equal(s.lc.start(s.inst).state, 'pending');
  await s.lc.settled(s.inst);
  t.same(s.ops(), ['create-vm', 'assign-vf', 'iommu-map', 'start-vm']);
  t.same(s.inst.functions, [{ fn: 1, slot: 3, kind: 'nvme-ebs', volumeId: 'vol-0123456789abcdef0' }]);
  const full = setup({ noRoom: 'host is full' });
  full.inst.moveTo('stopped', 'x');
  t.equal(code(() => full.lc.start(full.inst)), 'InsufficientCapacity');
  t.equal(full.inst.state, 'stopped');
});

t.test('a start that fails on the host leaves the instance stopped with a Server.InternalError reason', async (t) => {
  const s = setup({ failStart: true });
  s.inst.moveTo('stopped', 'x');
  s.lc.start(s.inst);
  await s.lc.settled(s.inst);
  t.equal(s.inst.state, 'stopped');
  t.match(s.inst.stateReason, /^Server\.InternalError/);
});

t.test('a guest that powers itself off is stopped (instance-initiated shutdown); our own stops and reboots are not', async (t) => {
  const s = setup();
  s.inst.moveTo('running', 'booted');
  s.lc.reboot(s.inst);
  s.lc.onGuestDown(s.inst, 'halted', 'shutdown requested: reboot');
  t.equal(s.inst.state, 'running', 'a halt during our reboot is ours');
  await s.lc.settled(s.inst);
  t.same(s.ops(), ['stop-vm', 'start-vm'], 'reboot = orderly stop, function reset, start');
  t.equal(s.resets(), 1);
  s.lc.onGuestDown(s.inst, 'halted', 'guest powered off');
  t.equal(s.inst.state, 'stopping');
  await s.lc.settled(s.inst);
  t.equal(s.inst.state, 'stopped');
  t.equal(s.inst.stateReason, REASON.instanceShutdown);
  t.same(s.inst.transitions.slice(-2).map((x) => x.to), ['stopping', 'stopped']);
});

t.test('terminate while stopping waits for the stop, then ends terminated (not stopped)', async (t) => {
  const s = setup();
  s.inst.moveTo('running', 'booted');
  s.lc.stop(s.inst);
  let tornDown = false;
  t.equal(s.lc.terminate(s.inst, async () => { tornDown = true; }).state, 'shutting-down');
  await s.lc.settled(s.inst);
  t.equal(s.inst.state, 'terminated');
  t.ok(tornDown);
});

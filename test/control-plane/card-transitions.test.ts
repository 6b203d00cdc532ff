// Replaying the card's transition history into the control plane's record.
import t from 'tap';
import { missedSteps } from '../../src/control-plane/card-transitions.ts';
import type { CardTransition } from '../../src/control-plane/card-contract.ts';

const h = (...steps: Array<[CardTransition['to'], string]>): CardTransition[] =>
  steps.map(([to, reason], i) => ({ to, reason, at: `2026-01-01T00:00:0${i}.000Z` }));

t.test('a guest poweroff seen late is recorded as stopping then stopped, at the card\'s times', async (t) => {
  const transitions = h(['pending', 'launch'], ['running', 'booted'], ['stopping', 'Client.InstanceInitiatedShutdown'], ['stopped', 'Client.InstanceInitiatedShutdown']);
  const steps = missedSteps('running', { state: 'stopped', stateReason: 'Client.InstanceInitiatedShutdown', transitions });
  t.same(steps.map((s) => s.to), ['stopping', 'stopped']);
  t.equal(steps[0]?.at, '2026-01-01T00:00:02.000Z');
});

t.test('after a second start, only the steps since the last pending are new', async (t) => {
  const transitions = h(['pending', 'a'], ['running', 'b'], ['stopping', 'c'], ['stopped', 'd'], ['pending', 'e'], ['running', 'f']);
  t.same(missedSteps('pending', { state: 'running', stateReason: 'f', transitions }).map((s) => s.to), ['running']);
});

t.test('nothing is missed when the control plane is up to date', async (t) => {
  t.same(missedSteps('running', { state: 'running', stateReason: 'b', transitions: h(['pending', 'a'], ['running', 'b']) }), []);
});

t.test('a card without history gives one step to its present state', async (t) => {
  t.same(missedSteps('pending', { state: 'running', stateReason: null }), [{ to: 'running', reason: null }]);
  t.same(missedSteps('running', { state: 'running', stateReason: null }), []);
});

t.test('a state the card never had gives one step to the card\'s present state, at its time', async (t) => {
  const steps = missedSteps('stopping', { state: 'running', stateReason: 'b', transitions: h(['pending', 'a'], ['running', 'b']) });
  t.same(steps, [{ to: 'running', reason: 'b', at: '2026-01-01T00:00:01.000Z' }]);
});

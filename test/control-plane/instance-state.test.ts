// EC2 state names and codes (reference/nitro.md §5).
import t from 'tap';
import { INSTANCE_STATE_CODES, instanceState, isInstanceStateName, isFinalState } from '../../src/control-plane/instance-state.ts';

t.test('codes are the EC2 ones', async (t) => {
  t.same(INSTANCE_STATE_CODES, { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 });
  t.same(instanceState('running'), { code: 16, name: 'running' });
});

t.test('name checks and finality', async (t) => {
  t.ok(isInstanceStateName('shutting-down'));
  t.notOk(isInstanceStateName('toString'));
  t.notOk(isInstanceStateName(16));
  t.ok(isFinalState('terminated'));
  t.notOk(isFinalState('stopped'));
});

// Console cache: appends at the right offset, keeps the tail, ignores stale appends.
import t from 'tap';
import type { Test } from 'tap';
import { openDb } from '../../../src/control-plane/state/db.ts';
import { ConsoleStore } from '../../../src/control-plane/state/console-store.ts';
import { InstanceStore } from '../../../src/control-plane/state/instance-store.ts';

function setup(t: Test, max?: number) {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  new InstanceStore(db).insertPending([{ instanceId: 'i-1', instanceType: 'emu.nano', hostId: 'h', vcpus: 1, memMiB: 1, userData: '', volumes: [] }]);
  return new ConsoleStore(db, max);
}

t.test('starts empty at offset 0 and appends chunk by chunk', async (t) => {
  const c = setup(t);
  t.same(c.get('i-1'), { data: '', nextOffset: 0, fetchedAt: '' });
  c.append('i-1', 0, 'abc', 3);
  t.match(c.append('i-1', 3, 'def', 6), { data: 'abcdef', nextOffset: 6 });
});

t.test('an append from an offset that is no longer current is ignored', async (t) => {
  const c = setup(t);
  c.append('i-1', 0, 'abc', 3);
  t.match(c.append('i-1', 0, 'abc', 3), { data: 'abc', nextOffset: 3 });
});

t.test('only the tail is kept past the limit', async (t) => {
  const c = setup(t, 4);
  c.append('i-1', 0, 'abcdef', 6);
  t.match(c.get('i-1'), { data: 'cdef', nextOffset: 6 });
});

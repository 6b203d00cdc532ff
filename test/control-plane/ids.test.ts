// EC2-shaped ids.
import t from 'tap';
import { isInstanceId, newInstanceId, newVolumeId } from '../../src/control-plane/ids.ts';

t.test('ids are a prefix and 17 hex digits, and differ', async (t) => {
  const ids = new Set(Array.from({ length: 100 }, newInstanceId));
  t.equal(ids.size, 100);
  for (const id of ids) t.match(id, /^i-[0-9a-f]{17}$/);
  t.match(newVolumeId(), /^vol-[0-9a-f]{17}$/);
});

t.test('isInstanceId accepts only the exact shape', async (t) => {
  t.ok(isInstanceId('i-0123456789abcdef0'));
  t.notOk(isInstanceId('i-0123456789ABCDEF0'));
  t.notOk(isInstanceId('i-0123456789abcdef'));
  t.notOk(isInstanceId('vol-0123456789abcdef0'));
});

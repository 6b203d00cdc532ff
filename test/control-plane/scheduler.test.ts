// Least-loaded placement, all or none.
import t from 'tap';
import { placeAll, largestFree } from '../../src/control-plane/scheduler.ts';
import type { HostLoad } from '../../src/control-plane/scheduler.ts';

const host = (hostId: string, vcpus: number, memMiB: number, usedV = 0, usedM = 0): HostLoad =>
  ({ hostId, capacity: { vcpus, memMiB }, usage: { vcpus: usedV, memMiB: usedM } });

t.test('each instance goes to the host least loaded after placing it', async (t) => {
  t.same(placeAll([host('a', 8, 8192, 4, 0), host('b', 8, 8192)], [{ vcpus: 2, memMiB: 512 }]), ['b']);
  t.same(placeAll([host('a', 8, 8192), host('b', 8, 8192)], Array(4).fill({ vcpus: 1, memMiB: 256 })), ['a', 'b', 'a', 'b']);
});

t.test('the busier resource decides: memory-heavy hosts lose even with idle vCPUs', async (t) => {
  t.same(placeAll([host('a', 16, 4096, 0, 3072), host('b', 4, 4096, 1, 0)], [{ vcpus: 1, memMiB: 512 }]), ['b']);
});

t.test('ties go to the lower hostId', async (t) => {
  t.same(placeAll([host('z', 4, 4096), host('m', 4, 4096)], [{ vcpus: 1, memMiB: 1 }]), ['m']);
});

t.test('if any instance does not fit, none are placed and the inputs are untouched', async (t) => {
  const hosts = [host('a', 2, 1024)];
  t.equal(placeAll(hosts, [{ vcpus: 2, memMiB: 512 }, { vcpus: 1, memMiB: 128 }]), null);
  t.same(hosts[0]!.usage, { vcpus: 0, memMiB: 0 });
  t.equal(placeAll([], [{ vcpus: 1, memMiB: 1 }]), null);
});

t.test('largestFree reports the roomiest vCPU and memory', async (t) => {
  t.same(largestFree([host('a', 8, 1024, 6, 0), host('b', 4, 8192, 0, 1024)]), { vcpus: 4, memMiB: 7168 });
});

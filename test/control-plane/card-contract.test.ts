// Parsers for card replies: accept the contract's shapes, name what is wrong otherwise.
import t from 'tap';
import { ContractViolation, parseCardInfo, parseCardInstance, parseConsoleChunk, parseStateReply } from '../../src/control-plane/card-contract.ts';

const info = {
  hostId: 'h', mode: 'legacy', link: 'shm', firmware: { version: '1', sha256: 'ab' },
  capacity: { vcpus: 4, memMiB: 1024 }, usage: { vcpus: 0, memMiB: 0, instances: 0 },
};

t.test('card info round-trips and a bad mode is named', async (t) => {
  t.same(parseCardInfo(info), info);
  t.throws(() => parseCardInfo({ ...info, mode: 'turbo' }), new ContractViolation('mode is not one of offload|legacy', 'turbo'));
  t.throws(() => parseCardInfo({ ...info, capacity: { vcpus: -1, memMiB: 1 } }), { message: /vcpus is not a non-negative number/ });
  t.throws(() => parseCardInfo(null), { message: /card is not an object/ });
});

t.test('instance details: optional volumeId and null reasons are kept as such', async (t) => {
  const got = parseCardInstance({ instanceId: 'i-1', state: 'running', stateReason: null, launchedAt: '2026-01-01T00:00:00Z',
    functions: [{ fn: 1, slot: 3, kind: 'nvme', volumeId: 'vol-1' }, { fn: 2, slot: 4, kind: 'virtio-net' }] });
  t.same(got.functions, [{ fn: 1, slot: 3, kind: 'nvme', volumeId: 'vol-1' }, { fn: 2, slot: 4, kind: 'virtio-net' }]);
  t.equal(got.stateReason, null);
  t.throws(() => parseCardInstance({ instanceId: 'i-1', state: 'running', functions: {} }), { message: /functions is not an array/ });
});

t.test('state replies and console chunks', async (t) => {
  t.same(parseStateReply({ instanceId: 'i-1', state: 'terminated' }), { instanceId: 'i-1', state: 'terminated' });
  t.throws(() => parseStateReply({ instanceId: 'i-1', state: 'gone' }), { message: /"gone"/ });
  t.same(parseConsoleChunk({ data: 'x', next: 1 }), { data: 'x', next: 1 });
  t.throws(() => parseConsoleChunk({ data: 1, next: 1 }), { message: /data is not a string/ });
});

// DOORBELL_PUSH (docs/link-protocol.md §4.1): the payload codec against the worked example, its checks (count,
// entry size, length), and the card port's handling — a function without pushed doorbells answers ENOTSUP, a
// malformed frame EINVAL, each refusal is counted; the link stays up.
import t from 'tap';
import { CardPort } from '../../../../src/devices/pcie/link/card-port.ts';
import { encodeFrame } from '../../../../src/devices/pcie/link/codec.ts';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { DoorbellPush, LinkCmd, LinkErrno, LinkFlag, PUSH_MAX_ENTRIES } from '../../../../src/devices/pcie/link/messages.ts';
import { decodeDoorbellPush, encodeDoorbellPush } from '../../../../src/devices/pcie/link/payloads.ts';
import type { PushedEntries } from '../../../../src/devices/contract.ts';
import { FakeHost } from '../../../helpers/fake-host.ts';
import { TRANSPORTS, peerPair, until } from './helpers.ts';
import { ToyFunction } from './toy-function.ts';

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

t.test('the push header is 24 bytes at the documented offsets', async (t) => {
  t.equal(DoorbellPush.size, 24);
  t.same(DoorbellPush.offset, { offset: 0, region: 8, value: 12, start: 16, count: 18, entrySize: 20, rsvd: 22 });
});

t.test('worked example 10: SQ1 tail 5 with the SQE for slot 4 is the documented frame', async (t) => {
  const sqe = new Uint8Array(64);
  sqe.set([0x02, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00]); // Read, CID 7, NSID 1
  const frame = encodeFrame({ msgId: 0x0b, cmd: LinkCmd.DOORBELL_PUSH, fn: 1, flags: LinkFlag.NO_REPLY, error: 0,
    payload: [encodeDoorbellPush(0x1008, 0, 5, 4, 1, 64).slice(), sqe] });
  t.equal(frame.byteLength, 0x68);
  t.equal(hex(frame.subarray(0, 16)), '0b 00 00 00 03 80 01 00 68 00 00 00 02 00 00 00');
  t.equal(hex(frame.subarray(16, 40)), '08 10 00 00 00 00 00 00 00 00 00 00 05 00 00 00 04 00 01 00 40 00 00 00');
  t.equal(hex(frame.subarray(40, 48)), '02 00 07 00 01 00 00 00');
  const p = decodeDoorbellPush(frame.subarray(16));
  t.same({ ...p, entries: [...p.entries] }, { offset: 0x1008, region: 0, value: 5, start: 4, count: 1, entrySize: 64, entries: [...sqe] });
});

t.test('a push that does not add up is EINVAL', async (t) => {
  const bad = (what: string, p: Uint8Array): void => {
    const e = (() => { try { decodeDoorbellPush(p); return undefined; } catch (x) { return x; } })();
    t.ok(e instanceof LinkError && e.errno === LinkErrno.EINVAL, what);
  };
  const join = (h: Uint8Array, n: number): Uint8Array => { const b = new Uint8Array(h.byteLength + n); b.set(h); return b; };
  bad('short header', new Uint8Array(20));
  bad('count 0', join(encodeDoorbellPush(0x1008, 0, 1, 0, 0, 64), 0));
  bad(`count above ${PUSH_MAX_ENTRIES}`, join(encodeDoorbellPush(0x1008, 0, 1, 0, PUSH_MAX_ENTRIES + 1, 64), (PUSH_MAX_ENTRIES + 1) * 64));
  bad('entry size 0', join(encodeDoorbellPush(0x1008, 0, 1, 0, 1, 0), 0));
  bad('entry size not a multiple of 4', join(encodeDoorbellPush(0x1008, 0, 1, 0, 1, 62), 62));
  bad('fewer entry bytes than announced', join(encodeDoorbellPush(0x1008, 0, 2, 0, 2, 64), 64));
  bad('more entry bytes than announced', join(encodeDoorbellPush(0x1008, 0, 1, 0, 1, 64), 65));
  t.equal(decodeDoorbellPush(join(encodeDoorbellPush(0x1008, 0, 2, 0, 2, 64), 128)).count, 2);
});

for (const kind of TRANSPORTS) {
  t.test(`${kind}: the card refuses pushes a function cannot take (ENOTSUP) or that are malformed (EINVAL), and counts them`, async (t) => {
    const fake = new FakeHost(4096);
    const { host, card } = await peerPair(t, kind);
    const cardPort = new CardPort({ log: fake.log, metrics: fake.metrics });
    cardPort.attach(card);
    cardPort.registerFunction(1, new ToyFunction(cardPort.port(1)));
    const taken: PushedEntries[] = [];
    const pushing = new ToyFunction(cardPort.port(2));
    cardPort.registerFunction(2, Object.assign(pushing, {
      barPush: (_bar: number, p: PushedEntries) => {
        if (p.value === 99) return { kind: 'not-enabled' as const, reason: 'queue 99 takes no pushes' };
        taken.push({ ...p, entries: p.entries.slice() });
        return null;
      },
    }));
    const errors: number[] = [];
    host.on('posted-error', (f) => errors.push(f.error));
    const entry = new Uint8Array(64).fill(0xab);
    host.post(LinkCmd.DOORBELL_PUSH, 1, [encodeDoorbellPush(0x1008, 0, 1, 0, 1, 64), entry]); // no pushed doorbells
    host.post(LinkCmd.DOORBELL_PUSH, 2, [encodeDoorbellPush(0x1008, 0, 1, 0, 2, 64), entry]); // count mismatch
    host.post(LinkCmd.DOORBELL_PUSH, 2, [encodeDoorbellPush(0x1008, 7, 1, 0, 1, 64), entry]); // config space is no BAR
    host.post(LinkCmd.DOORBELL_PUSH, 2, [encodeDoorbellPush(0x1008, 0, 99, 0, 1, 64), entry]); // the device says no
    host.post(LinkCmd.DOORBELL_PUSH, 9, [encodeDoorbellPush(0x1008, 0, 1, 0, 1, 64), entry]); // no such function
    host.post(LinkCmd.DOORBELL_PUSH, 2, [encodeDoorbellPush(0x1008, 0, 3, 2, 1, 64), entry]); // good
    await until(() => errors.length >= 5 && taken.length >= 1);
    t.same(errors, [LinkErrno.ENOTSUP, LinkErrno.EINVAL, LinkErrno.EINVAL, LinkErrno.ENOTSUP, LinkErrno.ENODEV]);
    t.equal(fake.counters.get('card.push_refused'), 4, 'the four frames that reached a function were counted as refused');
    t.equal(taken.length, 1);
    t.same([taken[0]?.offset, taken[0]?.value, taken[0]?.start, taken[0]?.count, taken[0]?.entries[0]], [0x1008, 3, 2, 1, 0xab]);
    t.ok(host.isUp && card.isUp, 'the link stays up');
  });
}

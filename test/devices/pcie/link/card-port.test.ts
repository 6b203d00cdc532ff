// CardPort's BIND model over both transports: DMA and MSI-X go over the connection a function is bound on; other
// connections may not map its windows; rebinding moves it; unbound traffic is refused or dropped and counted.
import t from 'tap';
import { gpa, iova } from '../../../../src/devices/brand.ts';
import { DmaFault } from '../../../../src/devices/contract.ts';
import { CardPort } from '../../../../src/devices/pcie/link/card-port.ts';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { LinkCmd, LinkErrno } from '../../../../src/devices/pcie/link/messages.ts';
import { RootComplex } from '../../../../src/devices/pcie/link/root-complex.ts';
import { FakeHost } from '../../../helpers/fake-host.ts';
import { TRANSPORTS, guestMemory, linkRig, peerPair, until } from './helpers.ts';
import { ToyFunction } from './toy-function.ts';

for (const kind of TRANSPORTS) {
  t.test(`${kind}: before BIND a function's DMA fails with link-down and its MSI-X is dropped and counted`, async (t) => {
    const fake = new FakeHost(4096);
    const { card } = await peerPair(t, kind);
    const cardPort = new CardPort({ log: fake.log, metrics: fake.metrics });
    cardPort.attach(card);
    const port = cardPort.registerFunction(4, new ToyFunction(cardPort.port(4)));
    t.notOk(port.bound);
    const e = await port.dma.read(iova(0), new Uint8Array(8)).catch((x: unknown) => x);
    t.type(e, DmaFault);
    t.equal((e as DmaFault).reason, 'link-down');
    port.sendMsi(0xfee00000, 1, 0);
    t.equal(fake.counters.get('card.unbound_drops'), 1);
    t.equal(fake.counters.get('card.dma_faults'), 1);
    t.ok(fake.events().includes('card.unbound-drop'));
  });

  t.test(`${kind}: DMA_MAP from a connection the function is not bound to is refused with EPERM`, async (t) => {
    const a = await linkRig(t, kind);
    await a.rc.bind(1, guestMemory());
    // A second host connection to the same card.
    const second = await peerPair(t, kind);
    a.cardPort.attach(second.card);
    const rc2 = new RootComplex(second.host);
    const e = await second.host.request(LinkCmd.DMA_MAP, 1, new Uint8Array(32)).catch((x: unknown) => x);
    t.equal((e as LinkError).errno, LinkErrno.EPERM);
    // Rebinding from the second connection moves the function; its MSI-X now goes there.
    await rc2.bind(1, guestMemory());
    const got: number[] = [];
    rc2.onMsi = (fn) => got.push(fn);
    a.rc.onMsi = () => t.fail('MSI-X must follow the binding');
    a.cardPort.port(1).sendMsi(0xfee00000, 7, 0);
    await until(() => got.length === 1);
    t.same(got, [1]);
  });

  t.test(`${kind}: BIND clears the function's windows`, async (t) => {
    const { rc, cardPort } = await linkRig(t, kind);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x1000), gpa(0), 0x1000, true);
    await rc.bind(1, mem);
    t.same(cardPort.port(1).windows(), []);
  });
}

t.test('registering a function twice is a broken invariant', async (t) => {
  const cardPort = new CardPort();
  cardPort.registerFunction(1, new ToyFunction(cardPort.port(1)));
  t.throws(() => cardPort.registerFunction(1, new ToyFunction(cardPort.port(1))));
});

t.test('shm: DMA_MAP naming guest memory that was never shared is refused with EBADF', async (t) => {
  const { host, cardPort } = await linkRig(t, 'shm');
  await host.request(LinkCmd.BIND, 1);
  const m = new Uint8Array(32);
  const v = new DataView(m.buffer);
  v.setUint32(0, 3, true);
  v.setUint32(4, 99, true); // memId 99
  v.setUint32(16, 0x1000, true); // size
  const e = await host.request(LinkCmd.DMA_MAP, 1, m).catch((x: unknown) => x);
  t.equal((e as LinkError).errno, LinkErrno.EBADF);
  t.same(cardPort.port(1).windows(), []);
});

t.test('socket: a short DMA_MAP payload is EINVAL, not a crash', async (t) => {
  const { rc, host } = await linkRig(t, 'socket');
  await rc.bind(1, guestMemory());
  const e = await host.request(LinkCmd.DMA_MAP, 1, new Uint8Array(8)).catch((x: unknown) => x);
  t.equal((e as LinkError).errno, LinkErrno.EINVAL);
});

t.test('NET_FRAME (legacy NIC port): delivered to onNetFrame with its function and connection; refused with ENODEV when no port takes it', async (t) => {
  const fake = new FakeHost(4096);
  const { host, card } = await peerPair(t, 'socket');
  const cardPort = new CardPort({ log: fake.log, metrics: fake.metrics });
  cardPort.attach(card);
  const got: Array<{ fn: number; bytes: number[]; fromHost: boolean }> = [];
  cardPort.onNetFrame = (fn, frame, peer) => {
    if (fn !== 9) return false;
    got.push({ fn, bytes: [...frame], fromHost: peer === card });
    return true;
  };
  await host.request(LinkCmd.NET_FRAME, 9, new Uint8Array([1, 2, 3]));
  t.same(got, [{ fn: 9, bytes: [1, 2, 3], fromHost: true }], 'the frame and its function reach the port');
  const e = await host.request(LinkCmd.NET_FRAME, 4, new Uint8Array([7])).catch((x: unknown) => x);
  t.equal((e as LinkError).errno, LinkErrno.ENODEV, 'a frame for a function that is no NIC port: ENODEV');
  const fresh = new CardPort({ log: fake.log, metrics: fake.metrics });
  const other = await peerPair(t, 'socket');
  fresh.attach(other.card);
  const e2 = await other.host.request(LinkCmd.NET_FRAME, 9, new Uint8Array([1])).catch((x: unknown) => x);
  t.equal((e2 as LinkError).errno, LinkErrno.ENODEV, 'an offload-mode card takes no NET_FRAME at all');
});

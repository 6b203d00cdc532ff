// RootComplex ↔ CardPort over both transports, driving the toy stand-in function: config and BAR accesses, IOMMU
// windows, DMA through them (split, cross-window), MSI-X after the data, IOMMU faults, per-VM memory, management.
import t from 'tap';
import { gpa, iova } from '../../../../src/devices/brand.ts';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { encodeDmaAccess } from '../../../../src/devices/pcie/link/payloads.ts';
import { DeviceInfoFlag, LinkCmd, LinkErrno, type MgmtEvent } from '../../../../src/devices/pcie/link/messages.ts';
import { TRANSPORTS, guestMemory, linkRig, until } from './helpers.ts';
import { TOY_DEVICE, TOY_STATUS_FAULT, TOY_VENDOR, ToyReg } from './toy-function.ts';
import type { RootComplex } from '../../../../src/devices/pcie/link/root-complex.ts';

/** Program the toy's copy engine on fn and ring its doorbell (posted writes, like a driver). */
function kick(rc: RootComplex, fn: number, src: number, dst: number, len: number, msiData = 0x41): void {
  rc.barWrite(fn, 0, ToyReg.SRC, 4, src);
  rc.barWrite(fn, 0, ToyReg.DST, 4, dst);
  rc.barWrite(fn, 0, ToyReg.LEN, 4, len);
  rc.barWrite(fn, 0, ToyReg.MSI_ADDR, 4, 0xfee00000);
  rc.barWrite(fn, 0, ToyReg.MSI_DATA, 4, msiData);
  rc.barWrite(fn, 0, ToyReg.DOORBELL, 4, 1);
}

function msiWaiter(rc: RootComplex, onEach?: (fn: number) => void): { msis: [number, number, number, number][]; wait(n: number): Promise<void> } {
  const msis: [number, number, number, number][] = [];
  rc.onMsi = (fn, address, data, vector) => { onEach?.(fn); msis.push([fn, address, data, vector]); };
  return { msis, wait: (n) => until(() => msis.length >= n) };
}

for (const kind of TRANSPORTS) {
  t.test(`${kind}: config reads return the toy's identity; config writes are non-posted and read back`, async (t) => {
    const { rc } = await linkRig(t, kind);
    t.equal(await rc.configRead(1, 0, 2), TOY_VENDOR);
    t.equal(await rc.configRead(1, 2, 2), TOY_DEVICE);
    t.equal(await rc.configRead(1, 0, 4), (TOY_DEVICE << 16 | TOY_VENDOR) >>> 0);
    await rc.configWrite(1, 0x40, 4, 0xdeadbeef);
    t.equal(await rc.configRead(1, 0x40, 4), 0xdeadbeef);
    t.equal(await rc.configRead(1, 0x40, 1), 0xef);
  });

  t.test(`${kind}: a posted BAR write is visible to the BAR read queued behind it`, async (t) => {
    const { rc } = await linkRig(t, kind);
    rc.barWrite(1, 0, ToyReg.SCRATCH, 4, 0x12345678);
    t.equal(await rc.barRead(1, 0, ToyReg.SCRATCH, 4), 0x12345678);
  });

  t.test(`${kind}: reset and get-info reach the function`, async (t) => {
    const { rc, toy } = await linkRig(t, kind);
    rc.barWrite(1, 0, ToyReg.SCRATCH, 4, 5);
    await rc.reset(1);
    t.equal(toy.resets, 1);
    t.equal(await rc.barRead(1, 0, ToyReg.SCRATCH, 4), 0);
    const info = await rc.getInfo(1);
    t.same(info, { flags: DeviceInfoFlag.RESET | DeviceInfoFlag.PCI, numRegions: 9, numIrqs: 5 });
  });

  t.test(`${kind}: an unknown function gets ENODEV, an unknown command ENOSYS, a bad region EINVAL`, async (t) => {
    const { rc } = await linkRig(t, kind);
    const e1 = await rc.configRead(9, 0, 4).catch((x: unknown) => x);
    t.equal((e1 as LinkError).errno, LinkErrno.ENODEV);
    const e2 = await rc.peer.request(0x7777, 1).catch((x: unknown) => x);
    t.equal((e2 as LinkError).errno, LinkErrno.ENOSYS);
    const e3 = await rc.barRead(1, 6, 0, 4).catch((x: unknown) => x);
    t.equal((e3 as LinkError).errno, LinkErrno.EINVAL);
    const e4 = await rc.configRead(1, 0, 3).catch((x: unknown) => x);
    t.equal((e4 as LinkError).errno, LinkErrno.EINVAL);
  });

  t.test(`${kind}: the toy DMA-reads, DMA-writes, then raises MSI-X; the data is in guest memory when the MSI arrives`, async (t) => {
    const { rc, cardPort } = await linkRig(t, kind);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x10000), gpa(0x4000), 0x1000, false);
    await rc.map(1, iova(0x20000), gpa(0x8000), 0x1000, true);
    t.equal(cardPort.port(1).windows().length, 2, 'the card knows both windows');
    mem.set([1, 2, 3, 250, 255], 0x4000);
    const seenAtMsi: number[][] = [];
    const w = msiWaiter(rc, () => seenAtMsi.push([...mem.subarray(0x8000, 0x8005)]));
    kick(rc, 1, 0x10000, 0x20000, 5, 0x41);
    await w.wait(1);
    t.same(w.msis, [[1, 0xfee00000, 0x41, 0]]);
    t.same(seenAtMsi, [[2, 3, 4, 251, 0]], 'DMA write landed before the MSI-X behind it');
    t.equal(await rc.barRead(1, 0, ToyReg.STATUS, 4), 0);
    t.same(rc.faults(), []);
  });

  t.test(`${kind}: a DMA read crossing two windows with non-contiguous gpas is fine`, async (t) => {
    const { rc } = await linkRig(t, kind);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x10000), gpa(0x9000), 0x1000, false);
    await rc.map(1, iova(0x11000), gpa(0x3000), 0x1000, false);
    await rc.map(1, iova(0x40000), gpa(0x20000), 0x2000, true);
    mem.fill(10, 0x9ffe, 0xa000);
    mem.fill(20, 0x3000, 0x3002);
    const w = msiWaiter(rc);
    kick(rc, 1, 0x10ffe, 0x40000, 4);
    await w.wait(1);
    t.same([...mem.subarray(0x20000, 0x20004)], [11, 11, 21, 21]);
  });

  t.test(`${kind}: transfers larger than the negotiated max_data_xfer_size are split and arrive whole`, async (t) => {
    const { rc } = await linkRig(t, kind);
    const v = await rc.negotiate({ max_data_xfer_size: 4096 });
    t.equal(v.caps.max_data_xfer_size, 4096);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x100000), gpa(0), 0x10000, false);
    await rc.map(1, iova(0x200000), gpa(0x10000), 0x10000, true);
    for (let i = 0; i < 10000; i++) mem[i] = i & 0xff;
    const framesBefore = rc.peer.stats.framesIn;
    const w = msiWaiter(rc);
    kick(rc, 1, 0x100000, 0x200000, 10000);
    await w.wait(1);
    for (let i = 0; i < 10000; i++) if (mem[0x10000 + i] !== ((i + 1) & 0xff)) { t.fail(`byte ${i}`); break; }
    if (kind === 'socket') t.equal(rc.peer.stats.framesIn - framesBefore, 3 + 3 + 1, '3 DMA_READs, 3 DMA_WRITEs, 1 MSIX');
    else t.equal(rc.peer.stats.framesIn - framesBefore, 1, 'shm DMA is a direct copy: only the MSIX crosses the ring');
  });

  t.test(`${kind}: DMA outside the mapped windows is refused by the card and never touches memory`, async (t) => {
    const { rc, cardPort, toy } = await linkRig(t, kind);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x10000), gpa(0x4000), 0x1000, true);
    mem.fill(7, 0x4000, 0x5000);
    const w = msiWaiter(rc);
    kick(rc, 1, 0x10ff0, 0x10000, 0x20); // read runs 0x10 bytes past the window
    await w.wait(1);
    t.equal(await rc.barRead(1, 0, ToyReg.STATUS, 4), TOY_STATUS_FAULT.unmapped);
    t.equal(toy.lastFault?.reason, 'unmapped', 'the device learns of the fault');
    t.equal(mem[0x4000], 7, 'nothing was written');
    t.same(rc.faults(), [], 'the card refused it before any access');
    t.same(cardPort.port(1).windows().map((x) => x.iova), [0x10000]);
  });

  t.test(`${kind}: a DMA write into a read-only window is a permission fault`, async (t) => {
    const { rc, toy } = await linkRig(t, kind);
    const mem = guestMemory();
    await rc.bind(1, mem);
    await rc.map(1, iova(0x10000), gpa(0x4000), 0x1000, false);
    const w = msiWaiter(rc);
    kick(rc, 1, 0x10000, 0x10800, 8);
    await w.wait(1);
    t.equal(toy.lastFault?.reason, 'permission');
    t.equal(mem[0x4800], 0);
  });

  if (kind === 'socket') {
    t.test('socket: the host IOMMU refuses raw DMA frames from a card that ignores its windows', async (t) => {
      const { rc, cardPort } = await linkRig(t, kind);
      const mem = guestMemory();
      await rc.bind(1, mem);
      await rc.map(1, iova(0x10000), gpa(0x4000), 0x1000, false);
      const [cardPeer] = [...cardPort.peers];
      if (!cardPeer) throw new Error('no card-side peer');
      // A misbehaving card: a DMA_READ past the window, and a posted DMA_WRITE into a read-only window.
      const refused = await cardPeer.request(LinkCmd.DMA_READ, 1, encodeDmaAccess(0x10ff0, 0x20)).then(() => null, (e: unknown) => e);
      t.ok(refused instanceof LinkError && refused.errno === LinkErrno.EFAULT, 'the DMA_READ is answered with EFAULT');
      cardPeer.post(LinkCmd.DMA_WRITE, 1, [encodeDmaAccess(0x10800, 8), new Uint8Array(8).fill(9)]);
      await until(() => rc.faultCount === 2);
      t.same(rc.faults(), [
        { fn: 1, iova: 0x10ff0, length: 0x20, write: false, reason: 'unmapped' },
        { fn: 1, iova: 0x10800, length: 8, write: true, reason: 'permission' },
      ], 'both recorded as IOMMU faults');
      t.equal(mem[0x4800], 0, 'the refused write never reached guest memory');
    });
  }

  t.test(`${kind}: functions bound to different VMs DMA into their own guest memory`, async (t) => {
    const { rc } = await linkRig(t, kind, [1, 2]);
    const vmA = guestMemory(1 << 16);
    const vmB = guestMemory(1 << 16);
    await rc.bind(1, vmA);
    await rc.bind(2, vmB);
    for (const [fn, m] of [[1, vmA], [2, vmB]] as const) {
      await rc.map(fn, iova(0x1000), gpa(0), 0x2000, true);
      m[0] = fn * 100;
    }
    const w = msiWaiter(rc);
    kick(rc, 1, 0x1000, 0x2000, 1);
    kick(rc, 2, 0x1000, 0x2000, 1);
    await w.wait(2);
    t.same([vmA[0x1000], vmB[0x1000]], [101, 201]);
  });

  t.test(`${kind}: overlapping maps are refused with EEXIST; an unmap must match a map exactly`, async (t) => {
    const { rc, cardPort } = await linkRig(t, kind);
    await rc.bind(1, guestMemory());
    await rc.map(1, iova(0x10000), gpa(0), 0x2000, true);
    const e1 = await rc.map(1, iova(0x11000), gpa(0x8000), 0x2000, true).catch((x: unknown) => x);
    t.equal((e1 as LinkError).errno, LinkErrno.EEXIST);
    const e2 = await rc.unmap(1, iova(0x10000), 0x1000).catch((x: unknown) => x);
    t.equal((e2 as LinkError).errno, LinkErrno.ENOENT);
    await rc.unmap(1, iova(0x10000), 0x2000);
    t.same(cardPort.port(1).windows(), []);
    const w = msiWaiter(rc);
    kick(rc, 1, 0x10000, 0x10000, 4);
    await w.wait(1);
    t.equal(await rc.barRead(1, 0, ToyReg.STATUS, 4), TOY_STATUS_FAULT.unmapped, 'an unmapped window faults');
  });

  t.test(`${kind}: the management channel carries card requests and hypervisor events as JSON on fn 0xFFFF`, async (t) => {
    const { rc, cardPort, card } = await linkRig(t, kind);
    rc.onMgmt = (req) => (req.op === 'stats' ? { ok: true, result: { vms: 0 } } : { ok: false, code: 'ENOTSUP', message: req.op });
    const ch = cardPort.mgmtChannel(card);
    t.same(await ch.request({ op: 'stats' }), { ok: true, result: { vms: 0 } });
    t.same(await ch.request({ op: 'start-vm', vmId: 'i-1' }), { ok: false, code: 'ENOTSUP', message: 'start-vm' });
    const events: MgmtEvent[] = [];
    cardPort.onMgmtEvent = (ev) => events.push(ev);
    rc.sendMgmtEvent({ event: 'console', vmId: 'i-1', data: 'hello\n' });
    await until(() => events.length === 1);
    t.same(events, [{ event: 'console', vmId: 'i-1', data: 'hello\n' }]);
    const bad = await card.request(LinkCmd.MGMT, 0xffff, new TextEncoder().encode('{nope')).catch((x: unknown) => x);
    t.equal((bad as LinkError).errno, LinkErrno.EINVAL);
  });

  t.test(`${kind}: when the link goes down the card's DMA fails with link-down and the function is unbound`, async (t) => {
    const { rc, cardPort, card } = await linkRig(t, kind);
    await rc.bind(1, guestMemory());
    await rc.map(1, iova(0), gpa(0), 0x1000, true);
    t.ok(cardPort.port(1).bound);
    rc.close();
    await until(() => !card.isUp);
    t.notOk(cardPort.port(1).bound);
    const e = await cardPort.port(1).dma.read(iova(0), new Uint8Array(4)).catch((x: unknown) => x);
    t.equal((e as { reason?: string }).reason, 'link-down');
  });
}

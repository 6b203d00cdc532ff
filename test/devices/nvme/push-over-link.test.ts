// Submission Push over the emulated PCIe link: the guest NVMe driver, the real NVMe function on a CardPort, and a
// socket (and shm) link between them. With push on, I/O SQEs travel in DOORBELL_PUSH frames and the card does no SQ
// DMA read for them; the completions and the data are the same as with push off. Bad push frames are refused whole,
// answered with the link's error reply and counted; the link and the controller stay up.
import t, { type Test } from 'tap';
import { CardPort } from '../../../src/devices/pcie/link/card-port.ts';
import { RootComplex } from '../../../src/devices/pcie/link/root-complex.ts';
import { LinkCmd } from '../../../src/devices/pcie/link/messages.ts';
import { encodeDoorbellPush } from '../../../src/devices/pcie/link/payloads.ts';
import { PciFunction } from '../../../src/devices/pcie/pci-function.ts';
import { NvmeController } from '../../../src/devices/nvme/nvme.ts';
import { DOORBELL_BASE } from '../../../src/devices/nvme/regs.ts';
import type { DeviceContext } from '../../../src/devices/contract.ts';
import { VmPlatform } from '../../../src/host/vm-platform.ts';
import { bootGuest } from '../../../src/host/guest/kernel.ts';
import { FakeHost } from '../../helpers/fake-host.ts';
import { TRANSPORTS, peerPair, type TransportName } from '../pcie/link/helpers.ts';
import { MemBackendStandIn } from './mem-backend.ts';

const FN = 1;
const SLOT = 3;
const MEM = 16 << 20;

async function rig(t: Test, kind: TransportName) {
  const fake = new FakeHost(4096);
  const { host, card } = await peerPair(t, kind);
  const cardPort = new CardPort({ log: fake.log, metrics: fake.metrics });
  cardPort.attach(card);
  const port = cardPort.port(FN);
  const pci = new PciFunction({ sendMsi: (a, d, v) => port.sendMsi(a, d, v), log: fake.log, metrics: fake.metrics });
  const ctx: DeviceContext = {
    dma: port.dma, irq: pci.irq, log: fake.log, metrics: fake.metrics,
    clock: { nowNs: () => process.hrtime.bigint(), setTimer: (ms, f) => { const h = setTimeout(f, ms); return () => clearTimeout(h); } },
  };
  const ctrl = new NvmeController(ctx, { serial: 'vol0push0000000000', blockDeviceName: 'sdf', fn: FN });
  ctrl.attachNamespace(1, new MemBackendStandIn(4 << 20), 512);
  pci.attach(ctrl);
  cardPort.registerFunction(FN, pci);
  const rc = new RootComplex(host);
  await rc.negotiate();
  const platform = new VmPlatform('i-push', new SharedArrayBuffer(MEM), '', 'push', rc, () => {}, () => {});
  rc.onMsi = (fn, address, data) => { if (fn === FN) platform.deliverMsi(address, data); };
  await rc.bind(FN, platform.mem);
  await rc.map(FN, 0 as never, 0 as never, MEM, true);
  platform.assign(FN, SLOT);
  const k = await bootGuest(platform);
  await k.userDataDone;
  t.teardown(() => { platform.halt(); rc.close(); });
  return { fake, ctrl, k, host, rc };
}

/** Run a shell line; it must succeed. */
async function sh(t: Test, k: Awaited<ReturnType<typeof rig>>['k'], line: string): Promise<string> {
  const r = await k.exec(line);
  t.equal(r.code, 0, `${line} → ${r.output.slice(-200)}`);
  return r.output;
}

for (const kind of TRANSPORTS) {
  t.test(`${kind}: with push on the card takes every I/O SQE from DOORBELL_PUSH frames and does no SQ DMA read`, async (t) => {
    const { ctrl, k } = await rig(t, kind);
    const fio = 'fio --name=p --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=8 --size=256k --verify=crc32c';
    // Push off: every I/O SQE is fetched by DMA.
    const off0 = { ...ctrl.engine.qstats };
    t.match(await sh(t, k, fio), /io_errors=0 verify_errors=0/);
    const offReads = ctrl.engine.qstats.ioSqDmaReads - off0.ioSqDmaReads;
    t.ok(offReads > 0, `push off: ${offReads} SQ DMA reads`);
    t.equal(ctrl.engine.qstats.sqePushed, 0);

    t.match(await sh(t, k, 'nvme set-feature /dev/nvme0 push on'), /Submission Push.*value:0x00000001/);
    t.match(await sh(t, k, 'nvme get-feature /dev/nvme0 push'), /Current value:0x00000001 \(on\)/);
    const on0 = { ...ctrl.engine.qstats };
    t.match(await sh(t, k, fio), /io_errors=0 verify_errors=0/);
    const q = ctrl.engine.qstats;
    t.equal(q.ioSqDmaReads - on0.ioSqDmaReads, 0, 'push on: no SQ DMA read for I/O SQEs');
    t.ok(q.sqePushed - on0.sqePushed >= 64 * 2, `push on: ${q.sqePushed - on0.sqePushed} SQEs pushed (64 writes + 64 verify reads)`);
    t.equal(q.pushStale, 0);
    const log = await sh(t, k, 'nvme queue-log /dev/nvme0');
    t.match(log, new RegExp(`^io_sq_dma_reads\\s+: ${q.ioSqDmaReads} \\(\\+${q.ioSqDmaReads}\\)$`, 'mu'), 'first queue-log: change = total');
    t.match(log, new RegExp(`^sqe_pushed\\s+: ${q.sqePushed} \\(\\+${q.sqePushed}\\)$`, 'mu'));
  });

  t.test(`${kind}: the same I/O gives the same completions and data with push off and on`, async (t) => {
    const { k } = await rig(t, kind);
    // Write a pattern with push off, read it back with push on and off: both reads see the same bytes.
    await sh(t, k, 'dd if=/dev/urandom of=/tmp/in bs=4k count=32');
    await sh(t, k, 'dd if=/tmp/in of=/dev/nvme0n1 bs=4k count=32 oflag=direct');
    await sh(t, k, 'dd if=/dev/nvme0n1 of=/tmp/off bs=4k count=32 iflag=direct');
    await sh(t, k, 'nvme set-feature /dev/nvme0 push on');
    await sh(t, k, 'dd if=/dev/nvme0n1 of=/tmp/on bs=4k count=32 iflag=direct');
    const a = k.tmpfs.read('/tmp/in');
    t.ok(a !== undefined && a.byteLength === 32 * 4096);
    const equal = (p: string): boolean => { const b = k.tmpfs.read(p); return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0; };
    t.ok(equal('/tmp/off'), 'push off reads what was written');
    t.ok(equal('/tmp/on'), 'push on reads the same bytes');
    const off = await k.exec('fio --name=v --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=4 --size=64k');
    await sh(t, k, 'nvme set-feature /dev/nvme0 push off');
    const on = await k.exec('fio --name=v --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=4 --size=64k');
    t.equal(off.code, 0);
    t.equal(on.code, 0);
    const ios = (o: string): string | undefined => /io=(\d+KiB)/u.exec(o)?.[1];
    t.equal(ios(on.output), ios(off.output), 'same I/O count, no errors either way');
  });

  t.test(`${kind}: bad push frames are refused whole, answered with a link error and counted; I/O goes on`, async (t) => {
    const { fake, ctrl, k, host } = await rig(t, kind);
    await sh(t, k, 'nvme set-feature /dev/nvme0 push on');
    const sq1 = DOORBELL_BASE + 8; // SQ1 tail doorbell (DSTRD 0)
    const entry = new Uint8Array(64);
    const errorsBefore = host.stats.errorRepliesReceived;
    // Count mismatch: 2 entries announced, 1 carried.
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(sq1, 0, 1, 0, 2, 64), entry]);
    // Wrong entry size for NVMe (32-byte entries).
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(sq1, 0, 1, 0, 1, 32), entry.subarray(0, 32)]);
    // Not an SQ doorbell (CQ1 head doorbell).
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(sq1 + 4, 0, 1, 0, 1, 64), entry]);
    // Queue not enabled: the admin SQ never takes pushes; SQ 9 does not exist.
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(DOORBELL_BASE, 0, 1, 0, 1, 64), entry]);
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(DOORBELL_BASE + 9 * 8, 0, 1, 0, 1, 64), entry]);
    // More entries than the tail moves over.
    host.post(LinkCmd.DOORBELL_PUSH, FN, [encodeDoorbellPush(sq1, 0, 0, 0, 1, 64), entry]);
    // Short payload.
    host.post(LinkCmd.DOORBELL_PUSH, FN, new Uint8Array(10));
    for (let i = 0; i < 200 && host.stats.errorRepliesReceived - errorsBefore < 7; i++) await new Promise((r) => setTimeout(r, 5));
    t.equal(host.stats.errorRepliesReceived - errorsBefore, 7, 'each bad frame got an error reply');
    t.equal(fake.counters.get('card.push_refused'), 7, 'and was counted by the card');
    t.ok(fake.events().includes('card.push-refused'));
    t.equal(ctrl.engine.qstats.pushFrames, 0, 'none was taken');
    t.ok(host.isUp, 'the link stays up');
    t.match(await sh(t, k, 'fio --name=a --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=4 --size=64k --verify=crc32c'),
      /io_errors=0 verify_errors=0/, 'I/O still works');
  });
}

t.test('socket: a push that does not start at the SQ tail is stale: its entries are dropped and fetched by DMA', async (t) => {
  const { ctrl, k, rc } = await rig(t, 'socket');
  await sh(t, k, 'nvme set-feature /dev/nvme0 push on');
  // The guest pushes slot s with tail s+1; a stray host says the entry is for slot s-1 (inside the tail move as far
  // as the card can tell, but not where the SQ's tail is).
  const real = rc.barPush.bind(rc);
  rc.barPush = (fn, bar, off, value, start, size, entries) => real(fn, bar, off, value, (start + 1023) % 1024, size, entries);
  t.match(await sh(t, k, 'fio --name=s --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --iodepth=1 --size=32k --verify=crc32c'),
    /io_errors=0 verify_errors=0/);
  const q = ctrl.engine.qstats;
  t.ok(q.pushStale >= 16, `${q.pushStale} stale pushes`);
  t.equal(q.sqePushed, 0, 'no stale entry was used');
  t.ok(q.ioSqDmaReads >= 16, 'the SQEs came by DMA instead');
});

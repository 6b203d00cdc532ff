// shm transport between the main thread (host) and a worker thread (card): guest memory shared once over the side
// channel, card DMA as a direct copy checked against the windows, MSI-X and link-down across threads.
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { gpa, iova } from '../../../../src/devices/brand.ts';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { LinkErrno } from '../../../../src/devices/pcie/link/messages.ts';
import { RootComplex } from '../../../../src/devices/pcie/link/root-complex.ts';
import { createShmLinkPair, openShmLink, shmTransferList } from '../../../../src/devices/pcie/link/shm-transport.ts';
import { startTsWorker } from '../../../../src/common/ts-worker.ts';
import { guestMemory, until } from './helpers.ts';
import { TOY_STATUS_FAULT, TOY_VENDOR, ToyReg } from './toy-function.ts';

async function startCardWorker(t: Test): Promise<{ rc: RootComplex; worker: Worker }> {
  const pair = createShmLinkPair(64 * 1024);
  const worker = startTsWorker(new URL('./fixtures/card-worker.ts', import.meta.url), {
    workerData: { desc: pair.card }, transferList: shmTransferList(pair.card),
  });
  const [msg] = await once(worker, 'message') as [string];
  t.equal(msg, 'ready');
  const rc = new RootComplex(openShmLink(pair.host));
  t.teardown(async () => { rc.close(); await worker.terminate(); });
  return { rc, worker };
}


t.test('a card in a worker thread serves config reads and DMA-copies directly into shared guest memory', async (t) => {
  const { rc } = await startCardWorker(t);
  t.equal(await rc.configRead(1, 0, 2), TOY_VENDOR);
  const mem = guestMemory();
  await rc.bind(1, mem);
  await rc.map(1, iova(0x10000), gpa(0x1000), 0x1000, false);
  await rc.map(1, iova(0x20000), gpa(0x3000), 0x1000, true);
  mem.set([5, 6, 7], 0x1000);
  const msis: number[] = [];
  let atMsi: number[] = [];
  rc.onMsi = (_fn, _a, data) => { atMsi = [...mem.subarray(0x3000, 0x3003)]; msis.push(data); };
  const framesBefore = rc.peer.stats.framesIn;
  rc.barWrite(1, 0, ToyReg.SRC, 4, 0x10000);
  rc.barWrite(1, 0, ToyReg.DST, 4, 0x20000);
  rc.barWrite(1, 0, ToyReg.LEN, 4, 3);
  rc.barWrite(1, 0, ToyReg.MSI_DATA, 4, 0x55);
  rc.barWrite(1, 0, ToyReg.DOORBELL, 4, 1);
  await until(() => msis.length === 1);
  t.same(atMsi, [6, 7, 8], 'the worker wrote guest memory before its MSI-X arrived');
  t.equal(rc.peer.stats.framesIn - framesBefore, 1, 'only the MSI-X crossed the ring');
});

t.test('a worker card refuses DMA outside its windows (the host never sees it)', async (t) => {
  const { rc } = await startCardWorker(t);
  const mem = guestMemory();
  await rc.bind(1, mem);
  await rc.map(1, iova(0x10000), gpa(0x1000), 0x1000, true);
  const msis: number[] = [];
  rc.onMsi = (_fn, _a, data) => msis.push(data);
  rc.barWrite(1, 0, ToyReg.SRC, 4, 0x30000);
  rc.barWrite(1, 0, ToyReg.DST, 4, 0x10000);
  rc.barWrite(1, 0, ToyReg.LEN, 4, 8);
  rc.barWrite(1, 0, ToyReg.DOORBELL, 4, 1);
  await until(() => msis.length === 1);
  t.equal(await rc.barRead(1, 0, ToyReg.STATUS, 4), TOY_STATUS_FAULT.unmapped);
  t.same(rc.faults(), []);
});

t.test('when the worker dies the host sees the link go down once it closes its end', async (t) => {
  const { rc, worker } = await startCardWorker(t);
  const p = rc.peer.request(0x0009, 2, new Uint8Array(16)); // fn 2 does not exist: ENODEV, proves the link works
  t.equal(((await p.catch((x: unknown) => x)) as LinkError).errno, LinkErrno.ENODEV);
  await worker.terminate();
  rc.close(); // the owner of a worker closes the link on 'exit'
  const e = await rc.ping().catch((x: unknown) => x);
  t.equal((e as LinkError).errno, LinkErrno.ECONNRESET);
});

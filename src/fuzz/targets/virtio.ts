// Virtio descriptor chains into the VirtioNet model (virtio 1.2 §2.7 split virtqueues), driven from fake guest
// memory with the device-test helpers (test/helpers/virtq.ts). Each iteration writes garbage into the descriptor
// table (loops, self-references, INDIRECT tables pointing anywhere or nested, lengths up to 4 GiB, addresses outside
// memory), jumps avail.idx, kicks tx, hands rx a frame, or writes a random common-config register. Invariants: no
// access throws, no `virtio-net-backend-error`, and after every batch a device reset and re-initialisation gives a
// device that transmits a well-formed frame and receives one into a posted buffer.
import { makeRig, initDevice, kick, netHdr, frameOf, ALL_FEATURES, type Rig } from '../../../test/devices/virtio-net/fixtures/harness.ts';
import { GuestVirtq } from '../../../test/helpers/virtq.ts';
import { Bar4, CommonCfg, Status, DescFlags } from '../../devices/virtio-net/regs.ts';
import { Rng } from '../rng.ts';
import { catchingUncaught, guarded, Tally, type FuzzOptions, type FuzzResult } from '../types.ts';

const BATCH = 30;
const QSIZE = 16;
const MEM = 1 << 20;

function freshQueues(rig: Rig): void {
  rig.rx = new GuestVirtq(rig.host, 0x1000, QSIZE, 0x10000);
  rig.tx = new GuestVirtq(rig.host, 0x4000, QSIZE, 0x40000);
}

async function healthy(rig: Rig, t: Tally, it: number, r: Rng): Promise<boolean> {
  freshQueues(rig);
  const st = initDevice(rig, ALL_FEATURES);
  if ((st & Status.DRIVER_OK) === 0 || (st & Status.DEVICE_NEEDS_RESET) !== 0) { t.find(it, 'invariant', `re-initialisation failed: status 0x${st.toString(16)}`); return false; }
  const frame = frameOf(60 + r.int(1400), r.u8());
  const before = rig.sent.length;
  rig.tx.post([{ data: netHdr() }, { data: frame }]);
  kick(rig.net, 1);
  await rig.host.settle(10);
  const out = rig.sent[before];
  if (rig.sent.length !== before + 1 || out === undefined || Buffer.compare(Buffer.from(out), Buffer.from(frame)) !== 0) {
    t.find(it, 'invariant', `after reset a valid tx frame was not transmitted intact (sent ${rig.sent.length - before})`);
    return false;
  }
  rig.rx.post([{ len: 2048, write: true }]);
  kick(rig.net, 0);
  const ok = await rig.net.receive(frameOf(64, 9));
  if (!ok || rig.rx.usedIdx !== 1) { t.find(it, 'invariant', `after reset a frame was not received into a posted buffer`); return false; }
  rig.sent.length = 0;
  return true;
}

export async function fuzzVirtio(o: FuzzOptions): Promise<FuzzResult> {
  const t = new Tally('virtio', o.seed);
  const r = new Rng(o.seed);
  return catchingUncaught(t, async () => {
    const rig = makeRig({ queueSize: QSIZE });
    initDevice(rig, ALL_FEATURES);
    const addr = (): number => {
      const x = r.next();
      if (x < 0.5) return 0x10000 + r.int(0x60000);
      if (x < 0.7) return r.int(MEM);
      if (x < 0.85) return MEM - r.int(64);
      return r.u32() * 0x10000;
    };
    let it = 0;
    while (it < o.iterations) {
      const n = Math.min(BATCH, o.iterations - it);
      for (let i = 0; i < n; i++, it++) {
        t.inputs++;
        const k = r.next();
        const q = r.chance(0.6) ? rig.tx : rig.rx;
        await guarded(t, it, 'device access threw', async () => {
          if (k < 0.55) {
            // A garbage chain: random descriptors, often linked into loops or through INDIRECT tables.
            const len = 1 + r.int(6);
            const head = r.int(QSIZE);
            for (let j = 0; j < len; j++) {
              const idx = (head + j) % QSIZE;
              const flags = r.chance(0.8) ? r.pick([0, DescFlags.NEXT, DescFlags.NEXT, DescFlags.WRITE, DescFlags.NEXT | DescFlags.WRITE, DescFlags.INDIRECT, DescFlags.INDIRECT | DescFlags.NEXT]) : r.u16();
              const next = r.pick([(idx + 1) % QSIZE, idx, head, r.int(QSIZE), r.u16()]);
              q.setDesc(idx, { addr: addr(), len: r.pick([0, 1, 12, 64, 1514, 4096, 65536, r.u32()]), flags, next });
            }
            if (r.chance(0.3)) {
              // An indirect table in data memory whose entries loop or nest.
              const table = 0x20000 + (r.int(0x1000) & ~15);
              for (let j = 0; j < 4; j++) {
                const v = rig.host.view;
                const at = table + 16 * j;
                v.setUint32(at, addr() >>> 0, true); v.setUint32(at + 4, 0, true);
                v.setUint32(at + 8, r.pick([0, 12, 100, r.u32()]), true);
                v.setUint16(at + 12, r.pick([DescFlags.NEXT, DescFlags.INDIRECT, 0, DescFlags.WRITE | DescFlags.NEXT]), true);
                v.setUint16(at + 14, r.pick([0, j, j + 1, r.u16()]), true);
              }
              q.setDesc(head, { addr: table, len: r.pick([64, 48, 17, 0, r.u32()]), flags: DescFlags.INDIRECT });
            }
            if (r.chance(0.1)) q.availIdx = r.u16(); else q.publish(head);
            kick(rig.net, q === rig.tx ? 1 : 0);
            t.count(q === rig.tx ? 'tx-chain' : 'rx-chain');
          } else if (k < 0.75) {
            await rig.net.receive(r.chance(0.8) ? frameOf(14 + r.int(1600), r.u8()) : r.bytes(r.int(70000)));
            t.count('rx-frame');
          } else if (k < 0.9) {
            const fields = Object.keys(CommonCfg.offset) as (keyof typeof CommonCfg.offset)[];
            const f = r.pick(fields);
            const size = CommonCfg.sizeOf[f] === 8 ? 4 : CommonCfg.sizeOf[f] as 1 | 2 | 4;
            rig.net.transport.region.write(Bar4.COMMON_OFFSET + CommonCfg.offset[f], size, r.edgyU32() & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff));
            t.count('common-cfg');
          } else {
            rig.net.transport.region.write(r.int(0x4000), r.pick([1, 2, 4] as const), r.u32());
            t.count('bar-any');
          }
        });
      }
      await rig.host.settle(10);
      for (const l of rig.host.logs) {
        const ev = (l.obj as { event?: string }).event;
        if (ev === undefined) continue;
        if (ev === 'virtio-net-backend-error' || l.level === 'error') t.find(it, 'crash', `${ev}: ${JSON.stringify(l.obj)}`);
        if (l.level === 'warn') t.count(ev);
      }
      if ((rig.net.transport.region.read(Bar4.COMMON_OFFSET + CommonCfg.offset.device_status, 1) & Status.DEVICE_NEEDS_RESET) !== 0) t.count('needs-reset');
      rig.host.logs.length = 0;
      rig.host.dmaFaults.length = 0;
      try {
        if (!(await healthy(rig, t, it, r))) break;
      } catch (e) {
        t.find(it, 'invariant', `device unusable after batch: ${(e as Error).message}`);
        break;
      }
      if (it % 1000 === 0) o.log?.(`virtio: ${it}/${o.iterations}`);
    }
    return t.done(it);
  });
}

// Geneve datagrams (RFC 8926) into the card's VPC data plane over a real UDP underlay socket: structure-aware
// datagrams (a valid encapsulation of a UDP/ICMP frame between two mapped instances, then header, option-TLV and inner
// mutations) and raw noise. Invariants: the ingress path never throws, every datagram is either delivered or dropped
// with a counted reason, and after every batch a valid datagram from the mapped sender still reaches the ENI.
import { createSocket } from 'node:dgram';
import { geneveEncap, GeneveUnderlay } from '../../nitro-card/vpc/geneve.ts';
import { VpcDataplane } from '../../nitro-card/vpc/dataplane.ts';
import { icmpFrame, udpFrame } from '../../nitro-card/vpc/frames.ts';
import { parseIpv4 } from '../../devices/net-wire.ts';
import { parseMac } from '../../devices/virtio-net/net.ts';
import { Rng } from '../rng.ts';
import { catchingUncaught, Tally, type FuzzOptions, type FuzzResult } from '../types.ts';

const BATCH = 50;
const VNI = 0x00abcd;
const DST_IP = '10.1.0.5';
const SRC_IP = '10.1.0.9';

export async function fuzzGeneve(o: FuzzOptions): Promise<FuzzResult> {
  const t = new Tally('geneve', o.seed);
  const r = new Rng(o.seed);
  const noLog = { debug() {}, info() {}, warn() {}, error() {} };
  const dp = new VpcDataplane({ hostId: 'fuzz', log: noLog });
  let delivered = 0;
  dp.addEni({ eniId: 'eni-0fuzz', instanceId: 'i-0fuzz0000', macAddress: '02:00:00:00:00:05', privateIp: DST_IP, subnetCidr: '10.1.0.0/24', vni: VNI, securityGroupIds: ['sg-open'] },
    () => { delivered++; });
  dp.setSecurityGroups([{ groupId: 'sg-open', rules: [
    { ruleId: 'sgr-in', direction: 'ingress', protocol: 'all', fromPort: 0, toPort: 65535, cidr: '0.0.0.0/0' },
    { ruleId: 'sgr-out', direction: 'egress', protocol: 'all', fromPort: 0, toPort: 65535, cidr: '0.0.0.0/0' },
  ] }]);
  let thrown = 0;
  const underlay = await GeneveUnderlay.bind((d, from) => {
    try { dp.fromUnderlay(d, from); } catch (e) { thrown++; t.find(-1, 'crash', `fromUnderlay threw: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`); }
  }, { address: '127.0.0.1', port: 0 });
  const sender = createSocket({ type: 'udp4' });
  await new Promise<void>((res) => sender.bind(0, '127.0.0.1', () => res()));
  const from = sender.address();
  dp.setUnderlay(underlay);
  dp.setMappings([
    { vni: VNI, privateIp: SRC_IP, macAddress: '02:00:00:00:00:09', instanceId: 'i-0fuzz0009', hostId: 'peer', underlay: { address: from.address, port: from.port }, securityGroupIds: ['sg-open'] },
    { vni: VNI, privateIp: DST_IP, macAddress: '02:00:00:00:00:05', instanceId: 'i-0fuzz0000', hostId: 'fuzz', underlay: underlay.local, securityGroupIds: ['sg-open'] },
  ]);
  const src = parseIpv4(SRC_IP)!;
  const dst = parseIpv4(DST_IP)!;
  const gw = parseMac('02:6e:69:74:72:6f');
  const me = parseMac('02:00:00:00:00:09');
  const valid = (): Uint8Array => geneveEncap(VNI, udpFrame(gw, me, src, dst, 40000 + r.int(1000), 53, r.bytes(r.int(200))));
  const send = (d: Uint8Array) => new Promise<void>((res) => sender.send(d, underlay.local.port, underlay.local.address, () => res()));
  const structured = (): Uint8Array => {
    const inner = r.chance(0.6) ? udpFrame(gw, me, r.chance(0.8) ? src : r.u32(), r.chance(0.8) ? dst : r.u32(), r.u16(), r.u16(), r.bytes(r.int(300)))
      : r.chance(0.5) ? icmpFrame(gw, me, src, dst, r.pick([0, 8, 3, r.u8()]), r.u16(), r.u16()) : r.bytes(r.int(80));
    let d = geneveEncap(r.chance(0.8) ? VNI : r.int(1 << 24), inner);
    if (r.chance(0.4)) {
      // Options between the base header and the inner frame: ver/optlen says how many words, TLVs say their own.
      const words = 1 + r.int(8);
      const opts = r.bytes(words * 4);
      const withOpts = new Uint8Array(d.length + opts.length);
      withOpts.set(d.subarray(0, 8)); withOpts.set(opts, 8); withOpts.set(d.subarray(8), 8 + opts.length);
      withOpts[0] = r.chance(0.8) ? words : r.u8();
      d = withOpts;
    }
    if (r.chance(0.3)) d[1] = r.u8(); // flags: OAM, critical
    if (r.chance(0.1)) { d[2] = r.u8(); d[3] = r.u8(); } // protocol type
    return r.chance(0.3) ? r.mutate(d) : d;
  };
  try {
    return await catchingUncaught(t, async () => {
      let it = 0;
      while (it < o.iterations) {
        const n = Math.min(BATCH, o.iterations - it);
        for (let i = 0; i < n; i++, it++) {
          t.inputs++;
          await send(r.chance(0.1) ? r.bytes(r.int(100)) : structured());
        }
        const before = delivered;
        await send(valid());
        for (let k = 0; k < 200 && delivered === before; k++) await new Promise((res) => setTimeout(res, 2));
        if (delivered === before) { t.find(it, 'invariant', `a valid datagram from the mapped sender was not delivered after batch ending at ${it}`); break; }
        if (it % 1000 === 0) o.log?.(`geneve: ${it}/${o.iterations}`);
      }
      await new Promise((res) => setTimeout(res, 20));
      for (const [k, v] of Object.entries(dp.counters)) t.count(k, v);
      t.count('delivered', delivered);
      if (thrown > 0) t.count('thrown', thrown);
      return t.done(it);
    });
  } finally {
    sender.close();
    await underlay.close();
  }
}

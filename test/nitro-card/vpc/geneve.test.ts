// Geneve encapsulation (RFC 8926 §3.4, specs.md §7.2): header bytes, round trip, malformed datagrams dropped with a
// reason; two cards' data planes over real UDP sockets on loopback, with source validation of decapsulated packets.
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { geneveDecap, geneveEncap, GeneveUnderlay, type UnderlayAddr } from '../../../src/nitro-card/vpc/geneve.ts';
import { icmpFrame } from '../../../src/nitro-card/vpc/frames.ts';
import { GENEVE_PORT, IcmpType } from '../../../src/devices/net-wire.ts';
import { addEni, GATEWAY_MAC, ip, makePlane, SG_OPEN_OUT, SG_WEB } from './fixtures.ts';
import type { VpcDataplane } from '../../../src/nitro-card/vpc/dataplane.ts';

const inner = icmpFrame(GATEWAY_MAC, Uint8Array.of(2, 0, 0, 0, 0, 10), ip('10.0.0.10'), ip('10.0.0.11'), IcmpType.ECHO_REQUEST, 1, 1);

t.test('header bytes match the spec example and the round trip returns the frame and VNI', async (t) => {
  const d = geneveEncap(0x123456, inner);
  t.same([...d.subarray(0, 8)], [0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00]);
  const out = geneveDecap(d);
  t.equal(out.kind, 'ok');
  if (out.kind === 'ok') {
    t.equal(out.vni, 0x123456);
    t.same([...out.inner], [...inner]);
  }
  t.throws(() => geneveEncap(1 << 24, inner));
});

t.test('non-critical options are skipped; malformed datagrams are dropped with a reason', async (t) => {
  const withOpt = (type: number, lenWords: number, optLen = 2) => {
    const d = new Uint8Array(8 + optLen * 4 + inner.length);
    d.set([optLen, 0, 0x65, 0x58, 0, 0, 1, 0]);
    d.set([0x01, 0x02, type, lenWords], 8);
    d.set(inner, 8 + optLen * 4);
    return d;
  };
  const ok = geneveDecap(withOpt(0x01, 1));
  t.equal(ok.kind, 'ok');
  if (ok.kind === 'ok') t.same([...ok.inner], [...inner]);
  const drop = (d: Uint8Array) => { const r = geneveDecap(d); return r.kind === 'drop' ? r.reason : 'ok'; };
  t.equal(drop(new Uint8Array(5)), 'runt');
  t.equal(drop(Uint8Array.of(0x40, 0, 0x65, 0x58, 0, 0, 1, 0, ...inner)), 'bad-version');
  t.equal(drop(Uint8Array.of(0x3f, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2)), 'bad-option-length');
  t.equal(drop(withOpt(0x01, 5)), 'bad-option-length', 'option longer than the option area');
  t.equal(drop(withOpt(0x81, 1)), 'critical-option');
  t.equal(drop(Uint8Array.of(0, 0x80, 0x65, 0x58, 0, 0, 1, 0, ...inner)), 'oam');
  t.equal(drop(Uint8Array.of(0, 0, 0x08, 0x00, 0, 0, 1, 0, ...inner)), 'not-ethernet');
  t.equal(drop(Uint8Array.of(0, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3)), 'inner-runt');
});

interface Card { plane: VpcDataplane; underlay: GeneveUnderlay }

async function twoCards(t: Test): Promise<[Card, Card]> {
  const make = async (hostId: string): Promise<Card> => {
    const { plane } = makePlane(hostId);
    const underlay = await GeneveUnderlay.bind((d, from) => plane.fromUnderlay(d, from));
    plane.setUnderlay(underlay);
    plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, { ruleId: 'icmp', direction: 'ingress', protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '10.0.0.0/16' }] }]);
    return { plane, underlay };
  };
  const c = [await make('host-0'), await make('host-1')] as [Card, Card];
  t.teardown(() => Promise.all(c.map((x) => x.underlay.close())));
  const mapping = (n: number, hostId: string, underlay: UnderlayAddr) => ({
    vni: 1, privateIp: `10.0.0.${n}`, macAddress: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`, instanceId: `i-${n}`, hostId, underlay, securityGroupIds: [SG_WEB],
  });
  const table = [mapping(10, 'host-0', c[0].underlay.local), mapping(11, 'host-1', c[1].underlay.local)];
  for (const x of c) x.plane.setMappings(table);
  return c;
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

t.test('two cards: a ping crosses the underlay in Geneve on UDP 6081 and the reply comes back', async (t) => {
  const [c0, c1] = await twoCards(t);
  t.equal(c0.underlay.local.port, GENEVE_PORT, 'each card owns 6081 on its own loopback address');
  t.not(c0.underlay.local.address, c1.underlay.local.address);
  const a = addEni(c0.plane, 10);
  const b = addEni(c1.plane, 11);
  c0.plane.fromGuest(a.eni, inner);
  await until(() => b.rx.length > 0);
  t.equal(b.rx.length, 1, 'delivered on the other card');
  t.equal(c0.plane.counters['geneve-tx'], 1);
  t.equal(c1.plane.counters['geneve-rx'], 1);
  c1.plane.fromGuest(b.eni, icmpFrame(GATEWAY_MAC, b.eni.mac, b.eni.ip, a.eni.ip, IcmpType.ECHO_REPLY, 1, 1));
  await until(() => a.rx.length > 0);
  t.equal(a.rx.length, 1, 'reply delivered back');
});

t.test('source validation and malformed datagrams from the underlay: dropped and counted', async (t) => {
  const [c0, c1] = await twoCards(t);
  addEni(c1.plane, 11);
  const rogue = createSocket('udp4');
  await new Promise<void>((r) => rogue.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => rogue.close());
  const send = (d: Uint8Array) => rogue.send(d, c1.underlay.local.port, c1.underlay.local.address);
  send(geneveEncap(1, inner)); // inner source 10.0.0.10 maps to host-0's underlay, not this socket
  send(new Uint8Array(3));
  send(geneveEncap(1, new Uint8Array(20)));
  // A genuine card sending for an address it does not host is caught too.
  const spoof = icmpFrame(GATEWAY_MAC, Uint8Array.of(2, 0, 0, 0, 0, 10), ip('10.0.0.99'), ip('10.0.0.11'), 8, 1, 1);
  c0.underlay.send(c1.underlay.local, geneveEncap(1, spoof));
  await until(() => (c1.plane.counters['geneve-drop.source-validation'] ?? 0) >= 2 && (c1.plane.counters['geneve-drop.runt'] ?? 0) >= 1);
  t.equal(c1.plane.counters['geneve-drop.source-validation'], 2);
  t.equal(c1.plane.counters['geneve-drop.runt'], 1);
  t.equal(c1.plane.counters['geneve-drop.inner-runt'] ?? c1.plane.counters['geneve-drop.inner-unsupported-ethertype'], 1);
  t.notOk(c1.plane.counters['geneve-rx']);
});

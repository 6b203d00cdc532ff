// The DHCP client against a stand-in router/DHCP server: the lease configures the address and default route at boot,
// the gateway answers ping, and without a server the client gives up and leaves the interface unconfigured.
import t from 'tap';
import { DhcpMsg, parseIpv4 } from '../../../../src/devices/net-wire.ts';
import { RouterStandIn, bootNode } from '../virtio/helpers/real-virtio-net.ts';

const ip = (s: string): number => parseIpv4(s)!;

t.test('at boot eth0 gets its address and default route from DHCP (DISCOVER, OFFER, REQUEST, ACK)', async (t) => {
  const router = new RouterStandIn(ip('172.31.16.1'), ip('172.31.16.25'), 20, 3600);
  const n = await bootNode({ mac: '02:00:00:00:01:01', wire: router.attach, boot: { net: { dhcp: true } } });
  await n.k.net.ready();
  t.same(router.dhcpMessages, [DhcpMsg.DISCOVER, DhcpMsg.REQUEST]);
  const addr = (await n.k.exec('ip addr show eth0')).output;
  t.match(addr, /^ {4}inet 172\.31\.16\.25\/20 brd 172\.31\.31\.255 scope global dynamic eth0$/mu);
  t.match(addr, /valid_lft 3600sec preferred_lft 3600sec/u);
  t.equal((await n.k.exec('ip route')).output,
    'default via 172.31.16.1 dev eth0 proto dhcp\n172.31.16.0/20 dev eth0 proto kernel scope link src 172.31.16.25\n');
  t.equal(n.k.net.counters.dhcpLeases, 1);
  t.match(n.k.log.lines().map((l) => l.text).join('\n'), /dhcp eth0: lease 172\.31\.16\.25\/20 from 172\.31\.16\.1 router 172\.31\.16\.1 lease 3600s/u);
  const p = await n.k.exec('ping -c 2 172.31.16.1');
  t.match(p.output, /2 packets transmitted, 2 received, 0% packet loss/u);
  const off = await n.k.exec('ping -c 1 8.8.8.8');
  t.match(off.output, /1 packets transmitted, 0 received, 100% packet loss/u, 'off-link goes to the gateway (which does not answer)');
});

t.test('ip dhcp eth0 runs the client on demand', async (t) => {
  const router = new RouterStandIn(ip('10.1.0.1'), ip('10.1.0.7'), 24);
  const n = await bootNode({ mac: '02:00:00:00:01:02', wire: router.attach });
  t.equal((await n.k.exec('ip route')).output, '', 'unconfigured without DHCP at boot');
  const r = await n.k.exec('ip dhcp eth0');
  t.equal(r.code, 0);
  t.equal(r.output, 'eth0: leased 10.1.0.7/24 from 10.1.0.1 router 10.1.0.1\n');
});

t.test('without a DHCP server the client retries, gives up, and a static address still works', async (t) => {
  const router = new RouterStandIn(ip('10.2.0.1'), ip('10.2.0.7'), 24);
  const n = await bootNode({ mac: '02:00:00:00:01:03', wire: (nic) => { router.attach(nic); nic.backend.transmit = () => {}; } });
  const r = await n.k.exec('ip dhcp eth0');
  t.equal(r.code, 1);
  t.match(r.output, /dhcp: no lease on eth0/u);
  t.equal(n.k.net.counters.dhcpOut, 4, 'four DISCOVERs');
  t.equal((await n.k.exec('ip addr add 10.2.0.9/24 dev eth0 && ip route add default via 10.2.0.1')).code, 0);
  t.match((await n.k.exec('ip addr show eth0')).output, /inet 10\.2\.0\.9\/24 brd 10\.2\.0\.255 scope global eth0/u);
});

// ARP resolution and ping between two guests over the wire stand-in, as a user at the console sees them.
import t from 'tap';
import { A_IP, B_IP, twoGuests } from './helpers.ts';

t.test('the first packet to a neighbour resolves its MAC by ARP, both sides learn the other', async (t) => {
  const { wire, a, b } = await twoGuests();
  t.equal((await a.k.exec('ip neigh')).output, '');
  const r = await a.k.exec(`ping -c 1 ${B_IP}`);
  t.equal(r.code, 0);
  t.equal(a.k.net.counters.arpOutRequests, 1, 'one request');
  t.equal(b.k.net.counters.arpOutReplies, 1, 'one reply');
  t.equal((await a.k.exec('ip neigh')).output, `${B_IP} dev eth0 lladdr 02:00:00:00:00:0b REACHABLE\n`);
  t.equal((await b.k.exec('ip neigh')).output, `${A_IP} dev eth0 lladdr 02:00:00:00:00:0a REACHABLE\n`);
  const arpFrames = wire.frames.filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x06);
  t.equal(arpFrames.length, 2);
  t.same([...arpFrames[0]!.frame.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 'the request is broadcast');
});

t.test('ping between two guests over the wire: 0% packet loss with Linux-like output', async (t) => {
  const { a, b } = await twoGuests();
  const r = await a.k.exec(`ping -c 5 -s 1000 ${B_IP}`);
  t.equal(r.code, 0);
  t.match(r.output, /^PING 10\.0\.0\.2 \(10\.0\.0\.2\) 1000\(1028\) bytes of data\.$/mu);
  for (let seq = 1; seq <= 5; seq++) t.match(r.output, new RegExp(`^1008 bytes from 10\\.0\\.0\\.2: icmp_seq=${seq} ttl=64 time=[\\d.]+ ms$`, 'mu'));
  t.match(r.output, /^--- 10\.0\.0\.2 ping statistics ---$/mu);
  t.match(r.output, /^5 packets transmitted, 5 received, 0% packet loss, time \d+ms$/mu);
  t.match(r.output, /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/mu);
  t.equal(b.k.net.counters.icmpOutEchoReps, 5);
  const back = await b.k.exec(`ping -c 2 ${A_IP}`);
  t.match(back.output, /2 packets transmitted, 2 received, 0% packet loss/u);
});

t.test('ping to an address nobody answers reports 100% loss; without a route it is unreachable', async (t) => {
  const { a } = await twoGuests();
  const r = await a.k.exec('ping -c 2 10.0.0.9');
  t.equal(r.code, 1);
  t.match(r.output, /2 packets transmitted, 0 received, 100% packet loss/u);
  t.ok(a.k.net.counters.arpOutRequests >= 2, 'ARP asked again');
  await a.p.sleep(5000);
  t.equal(a.k.net.counters.arpUnresolved, 1, 'ARP gave up after its retries');
  t.equal((await a.k.exec('ip neigh')).output, '', 'and learned nothing');
  const u = await a.k.exec('ping -c 1 192.168.1.1');
  t.equal(u.code, 2);
  t.match(u.output, /ping: connect: Network is unreachable/u);
});

t.test('ip route add default via a neighbour makes other networks reachable through it', async (t) => {
  const { a } = await twoGuests();
  t.equal((await a.k.exec('ip route add default via 10.0.0.2')).code, 0);
  t.equal((await a.k.exec('ip route')).output, 'default via 10.0.0.2 dev eth0\n10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1\n');
  t.equal((await a.k.exec('ip route get 8.8.8.8')).output, '8.8.8.8 via 10.0.0.2 dev eth0 src 10.0.0.1\n');
  t.match((await a.k.exec('ip route add default via 10.0.0.2')).output, /File exists/u);
  t.match((await a.k.exec('ip route add 172.16.0.0/12 via 192.168.0.1')).output, /Network is unreachable/u);
  t.match((await a.k.exec('ip addr add 10.0.0.300/24 dev eth0')).output, /any valid prefix is expected/u);
  t.equal((await a.k.exec('ping -c 1 127.0.0.1')).code, 0, 'loopback answers');
  t.equal((await a.k.exec(`ping -c 1 ${A_IP}`)).code, 0, 'our own address answers');
});

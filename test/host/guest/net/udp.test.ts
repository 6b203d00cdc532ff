// UDP between two guests: socket send/recv, the nc echo server and client, and udp-perf sender and receiver.
import t from 'tap';
import { parseIpv4 } from '../../../../src/devices/net-wire.ts';
import { A_IP, B_IP, twoGuests } from './helpers.ts';

t.test('a datagram sent with sendto arrives with its source address and port', async (t) => {
  const { a, b } = await twoGuests();
  const rx = b.k.net.udp.bind(7000);
  const tx = a.k.net.udp.bind(0);
  t.ok(tx.sendto(parseIpv4(B_IP)!, 7000, new TextEncoder().encode('hello')));
  const d = await rx.recv(5000);
  t.ok(d);
  t.equal(new TextDecoder().decode(d!.data), 'hello');
  t.equal(d!.src, parseIpv4(A_IP));
  t.equal(d!.srcPort, tx.port);
  t.throws(() => b.k.net.udp.bind(7000), /Address already in use/u);
  t.equal(await rx.recv(100), undefined, 'nothing more: recv times out');
  rx.close();
  tx.close();
});

t.test('nc -u -l echoes datagrams back to nc -u', async (t) => {
  const { a, b } = await twoGuests();
  const server = b.k.exec('nc -u -l -c 2 7007');
  await Promise.resolve();
  const one = await a.k.exec(`nc -u ${B_IP} 7007 hello over udp`);
  t.equal(one.code, 0);
  t.equal(one.output, 'hello over udp\n');
  const two = await a.k.exec(`nc -u ${B_IP} 7007 second`);
  t.equal(two.output, 'second\n');
  const s = await server;
  t.equal(s.code, 0);
  t.equal(s.output, 'hello over udp\nsecond\n');
  t.equal(b.k.net.counters.udpInCsumErrors, 0);
});

t.test('udp-perf send/recv moves a counted stream and reports pps, Gbps and no loss', async (t) => {
  const { a, b } = await twoGuests();
  const recv = b.k.exec('udp-perf recv --port 5001 --count 500 --seconds 100000');
  const send = await a.k.exec(`udp-perf send ${B_IP} --port 5001 --size 1000 --count 500 --seconds 100000`);
  t.equal(send.code, 0);
  t.match(send.output, /^udp-perf: sent 500 packets \(500000 bytes\) to 10\.0\.0\.2:5001 in [\d.]+ s: \d+ pps, [\d.]+ Gbps, ring-full retries \d+$/mu);
  const r = await recv;
  t.equal(r.code, 0);
  t.match(r.output, /^udp-perf: listening on udp port 5001$/mu);
  t.match(r.output, /^udp-perf: received 500 packets \(500000 bytes\) in [\d.]+ s: \d+ pps, [\d.]+ Gbps, lost 0$/mu);
});

t.test('a datagram to a closed port is counted as udpNoPorts', async (t) => {
  const { a, b } = await twoGuests();
  await a.k.exec(`nc -u -w 0.1 ${B_IP} 9999 anyone`);
  t.equal(b.k.net.counters.udpNoPorts, 1);
});

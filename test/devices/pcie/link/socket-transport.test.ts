// Socket transport: address parsing, TCP on loopback, many connections per listening card, server close.
import t from 'tap';
import { LinkCmd } from '../../../../src/devices/pcie/link/messages.ts';
import type { LinkPeer } from '../../../../src/devices/pcie/link/peer.ts';
import { connectLink, listenLink, parseLinkAddress } from '../../../../src/devices/pcie/link/socket-transport.ts';
import { peerPair, until } from './helpers.ts';

t.test('link addresses: paths are Unix sockets, host:port is TCP', async (t) => {
  t.same(parseLinkAddress('/tmp/x/card.sock'), { path: '/tmp/x/card.sock' });
  t.same(parseLinkAddress('unix:card.sock'), { path: 'card.sock' });
  t.same(parseLinkAddress('127.0.0.1:7070'), { host: '127.0.0.1', port: 7070 });
  t.same(parseLinkAddress('[::1]:7070'), { host: '::1', port: 7070 });
  t.same(parseLinkAddress(':0'), { host: '127.0.0.1', port: 0 });
  t.throws(() => parseLinkAddress('card'), RangeError);
  t.throws(() => parseLinkAddress('h:70000'), RangeError);
});

t.test('a card listening on TCP loopback serves a host that connects to host:port', async (t) => {
  const server = await listenLink('127.0.0.1:0', (p) => p.onRequest(() => new Uint8Array([1, 2])));
  t.teardown(() => server.close());
  t.match(server.address, /^127\.0\.0\.1:\d+$/);
  const host = await connectLink(server.address);
  t.teardown(() => host.close());
  const r = await host.request(LinkCmd.REGION_READ, 1);
  t.same([...r.payload], [1, 2]);
});

t.test('one listening card serves many connections, each with its own peer; closing the server drops them', async (t) => {
  const seen: LinkPeer[] = [];
  const server = await listenLink('127.0.0.1:0', (p) => { seen.push(p); p.onRequest((f) => new Uint8Array([f.fn])); });
  const a = await connectLink(server.address);
  const b = await connectLink(server.address);
  t.same([(await a.request(LinkCmd.REGION_READ, 5)).payload[0], (await b.request(LinkCmd.REGION_READ, 6)).payload[0]], [5, 6]);
  t.equal(server.peers.size, 2);
  await server.close();
  await until(() => !a.isUp && !b.isUp);
  t.equal(server.peers.size, 0);
});

t.test('connecting to nothing rejects instead of crashing', async (t) => {
  await t.rejects(connectLink('127.0.0.1:1'));
});

t.test('a Unix socket pair from the shared helper is up on both ends', async (t) => {
  const { host, card } = await peerPair(t, 'socket');
  t.ok(host.isUp && card.isUp);
  t.equal(host.transport.kind, 'socket');
});

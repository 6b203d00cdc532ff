// SocketReader: exact-length reads across chunk boundaries, reads into caller buffers, skips, and failure on close.
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { SocketReader, StreamClosed } from '../../src/blockstore/socket-reader.ts';
import { tmpDir } from './helpers.ts';

/** A connected pair over a Unix socket in a temp dir: `writer` sends, `reader` reads. */
async function pair(t: Parameters<typeof tmpDir>[0]): Promise<{ writer: Socket; reader: SocketReader; server: Socket }> {
  const path = join(await tmpDir(t), 's.sock');
  let resolveAccepted: (s: Socket) => void = () => undefined;
  const accepted = new Promise<Socket>((r) => { resolveAccepted = r; });
  const srv = createServer((s) => { resolveAccepted(s); srv.close(); });
  await new Promise<void>((r) => srv.listen(path, r));
  const client = connect({ path });
  const server = await accepted;
  t.teardown(() => { client.destroy(); server.destroy(); });
  return { writer: server, reader: new SocketReader(client), server };
}

t.test('readExact assembles a frame split over several writes', async (t) => {
  const { writer, reader } = await pair(t);
  const got = reader.readExact(6);
  writer.write(Buffer.from([1, 2]));
  writer.write(Buffer.from([3, 4, 5]));
  writer.write(Buffer.from([6, 7]));
  t.same([...(await got)], [1, 2, 3, 4, 5, 6]);
  t.same([...(await reader.readExact(1))], [7], 'the leftover byte is kept for the next read');
});

t.test('readInto fills the caller buffer and skip drops bytes', async (t) => {
  const { writer, reader } = await pair(t);
  writer.write(Buffer.from('abcdefgh'));
  const dst = new Uint8Array(3);
  await reader.readInto(dst);
  t.equal(Buffer.from(dst).toString(), 'abc');
  await reader.skip(2);
  t.equal((await reader.readExact(3)).toString(), 'fgh');
});

t.test('a pending read fails with StreamClosed when the peer goes', async (t) => {
  const { writer, reader } = await pair(t);
  const got = reader.readExact(10);
  writer.end(Buffer.from('abc'));
  await t.rejects(got, StreamClosed);
  t.equal((await reader.readExact(3)).toString(), 'abc', 'bytes that did arrive can still be read');
  await t.rejects(reader.readExact(1), StreamClosed, 'reads beyond them fail');
});

t.test('two concurrent reads are refused as a caller bug', async (t) => {
  const { reader } = await pair(t);
  void reader.readExact(1).catch(() => undefined);
  t.throws(() => reader.readExact(1), /concurrent reads/);
});

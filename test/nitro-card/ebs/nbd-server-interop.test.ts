// The card's NBD client against Debian's reference nbd-server (the NetworkBlockDevice project's own server): the
// issue asks that a volume can live on any standard NBD server, not only ours or nbdkit.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFile, truncate } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NbdClient } from '../../../src/nitro-card/ebs/nbd-client.ts';
import { pattern, skipUnlessTool, tmpDir } from '../../blockstore/helpers.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

t.test('an EBS volume served by nbd-server: write with FUA, flush, read back, zeroes, range errors', { skip: skipUnlessTool('nbd-server') }, async (t) => {
  const dir = await tmpDir(t, 'nbd-server-');
  const image = join(dir, 'vol.img');
  await writeFile(image, '');
  await truncate(image, 16 << 20);
  const port = await freePort();
  const name = 'vol-0123456789abcdef0';
  const cfg = join(dir, 'config');
  await writeFile(cfg, `[generic]\nlistenaddr = 127.0.0.1\nport = ${port}\nallowlist = true\n[${name}]\nexportname = ${image}\n`);
  const srv = spawn('nbd-server', ['-C', cfg, '-d'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  srv.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  t.teardown(() => { srv.kill('SIGKILL'); });

  let c: NbdClient | undefined;
  for (let i = 0; i < 50 && !c; i++) {
    try {
      c = await NbdClient.connect(`nbd://127.0.0.1:${port}/${name}`, { timeoutMs: 10_000 });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!c) throw new Error(`nbd-server did not accept a connection:\n${log}`);
  const client = c;
  t.teardown(() => client.close());
  t.equal(client.sizeBytes, 16 << 20, 'the export size comes from the server');

  const data = pattern(1 << 20, 7);
  await client.write(8192, data, true);
  await client.flush();
  const back = new Uint8Array(1 << 20);
  await client.read(8192, back);
  t.ok(Buffer.from(back).equals(data), 'data written with FUA reads back intact');
  await client.writeZeroes(8192, 65536, false);
  const z = new Uint8Array(65536);
  await client.read(8192, z);
  t.ok(z.every((x) => x === 0), 'write-zeroes (or its emulation) leaves zeros');
  await t.rejects(client.read(16 << 20, new Uint8Array(512)), { name: 'BackendError' }, 'a read past the end is an error, not a hang');
});

// Link frames into the card: our real card (startCard: secure boot, management API, CardPort) listening on a Unix
// socket in a temp dir, one launched instance so NVMe functions exist. Each iteration writes a structure-aware frame
// (or raw noise) on a fuzz connection; after every batch the card must still answer PING on its hypervisor
// connection and on a fresh one, and a config read of a function must still return the vendor id.
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startCard } from '../../nitro-card/start.ts';
import { listenLink } from '../../devices/pcie/link/socket-transport.ts';
import { CardSession, readToken } from '../../conformance/session.ts';
import { socketConnector } from '../../conformance/connect.ts';
import { Rng } from '../rng.ts';
import { catchingUncaught, Tally, type FuzzOptions, type FuzzResult } from '../types.ts';
import { rawBytes, structuredFrame } from '../frames.ts';

const BATCH = 25;

function openRaw(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    s.once('error', reject);
    s.once('connect', () => { s.off('error', reject); s.on('error', () => {}); s.resume(); resolve(s); });
  });
}

export async function fuzzLink(o: FuzzOptions): Promise<FuzzResult> {
  const t = new Tally('link', o.seed);
  const r = new Rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'nl-fuzz-link-'));
  const log = pino({ level: 'silent' });
  const card = await startCard({
    hostId: 'fuzz', dataDir: join(dir, 'card'), mode: 'offload', link: 'socket', mgmtHost: '127.0.0.1', mgmtPort: 0,
    guestMemBytes: 4 << 20, capacity: { vcpus: 64, memMiB: 1 << 16 }, log,
  });
  const linkPath = join(dir, 'link.sock');
  const server = await listenLink(linkPath, (peer) => card.attach(peer), { name: 'fuzz-card-link' });
  const session = new CardSession(socketConnector(linkPath), 3000);
  try {
    return await catchingUncaught(t, async () => {
      const hv = await session.startHypervisor();
      const launched = await session.launch({ url: card.mgmtUrl, token: readToken(card.tokenPath) }, 4 << 20);
      if (launched.error !== undefined || launched.fns.length === 0) {
        t.find(0, 'unavailable', `could not launch an instance to get functions: ${launched.error ?? 'no fns'}`);
        return t.done(0);
      }
      const fns = launched.fns;
      const vendor = await hv.configRead(fns[0]!, 0, 2);
      let sock = await openRaw(linkPath);
      let done = 0;
      while (done < o.iterations) {
        const n = Math.min(BATCH, o.iterations - done);
        for (let i = 0; i < n; i++) {
          if (sock.destroyed || sock.writableEnded) { t.count('link-closed-by-card'); sock = await openRaw(linkPath); }
          const raw = r.chance(0.1);
          sock.write(raw ? rawBytes(r) : structuredFrame(r, fns));
          t.count(raw ? 'raw' : 'structured');
          t.inputs++;
        }
        done += n;
        // Let the card chew through the batch, then check it still serves.
        await new Promise((res) => setTimeout(res, 5));
        try {
          await hv.ping();
          const fresh = await session.open('fuzz-probe');
          await fresh.ping();
          fresh.close();
          const v = await hv.configRead(fns[0]!, 0, 2);
          if (v !== vendor) t.find(done, 'invariant', `fn ${fns[0]} vendor id read 0x${v.toString(16)} after fuzzing, was 0x${vendor.toString(16)}`);
        } catch (e) {
          t.find(done, 'invariant', `card stopped serving after batch ending at iteration ${done}: ${(e as Error).message}`);
          break;
        }
        // A new fuzz connection now and then: link-down handling (unbind, window drop) is part of what is fuzzed.
        if (r.chance(0.3)) { sock.destroy(); sock = await openRaw(linkPath); }
        if (done % 500 === 0) o.log?.(`link: ${done}/${o.iterations}`);
      }
      sock.destroy();
      await session.terminate({ url: card.mgmtUrl, token: readToken(card.tokenPath) }).catch(() => undefined);
      return t.done(done);
    });
  } finally {
    session.close();
    await server.close();
    await card.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// NBD server input (specs.md §6) into our block store (src/blockstore) over a real Unix socket. Each iteration is one
// fuzz connection that sends raw noise, or a valid fixed-newstyle handshake with mutated option haggling, or a good
// handshake followed by mutated transmission requests (bad magic, unknown types and flags, ranges past the end,
// WRITE payloads shorter than announced). Invariants: the server never throws or logs at error level, a connection
// opened at the start keeps working (write + read-back) after every batch, a fresh connection negotiates and sees the
// same data (on an export the fuzz connections do not name), and every fuzz connection is gone once its socket is closed.
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBlockStore } from '../../blockstore/server.ts';
import { NbdClient } from '../../nitro-card/ebs/nbd-client.ts';
import { Rng } from '../rng.ts';
import { catchingUncaught, Tally, type FuzzOptions, type FuzzResult } from '../types.ts';

const BATCH = 10;
const SIZE = 4 << 20;
/** Fuzz connections use EXPORT; the good clients use KEEP, so a concurrent fuzz WRITE cannot explain a mismatch there. */
const EXPORT = 'vol-0f0f0f0f0f0f0f0f0';
const KEEP = 'vol-0a0a0a0a0a0a0a0a0';
const IHAVEOPT = 0x49484156454f5054n;
const REQ_MAGIC = 0x25609513;

function option(r: Rng, exportName: string): Buffer {
  const opt = r.chance(0.8) ? r.pick([1, 2, 3, 6, 7, 8, 9, 10]) : r.u32();
  let data: Buffer;
  if (opt === 6 || opt === 7) {
    const name = Buffer.from(r.chance(0.7) ? exportName : r.pick(['', 'nope', 'x'.repeat(r.int(5000)), '\u0000']));
    const infos = r.int(4);
    data = Buffer.alloc(4 + name.length + 2 + 2 * infos);
    data.writeUInt32BE(r.chance(0.85) ? name.length : r.u32(), 0);
    name.copy(data, 4);
    data.writeUInt16BE(r.chance(0.9) ? infos : r.u16(), 4 + name.length);
    for (let i = 0; i < infos; i++) data.writeUInt16BE(r.int(8), 6 + name.length + 2 * i);
  } else if (opt === 10) {
    data = Buffer.from([0, 0, 0, 1, 0, 0, 0, 14, ...Buffer.from('base:allocation')].slice(0, r.int(40)));
  } else {
    data = Buffer.from(r.bytes(r.int(64)));
  }
  const h = Buffer.alloc(16);
  h.writeBigUInt64BE(r.chance(0.95) ? IHAVEOPT : BigInt(r.u32()), 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(r.chance(0.9) ? data.length : r.edgyU32(), 12);
  return Buffer.concat([h, data]);
}

function request(r: Rng): Buffer {
  const type = r.chance(0.85) ? r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8]) : r.u16();
  const length = r.pick([0, 1, 512, 4096, 65536, SIZE, r.edgyU32()]);
  const offset = r.pick([0, 512, SIZE - 512, SIZE, SIZE + 4096, r.u32() * 4096]);
  const withData = type === 1 ? Math.min(length, r.chance(0.7) ? length : r.int(length + 1), 70000) : r.chance(0.1) ? r.int(64) : 0;
  const b = Buffer.alloc(28 + withData);
  b.writeUInt32BE(r.chance(0.95) ? REQ_MAGIC : r.u32(), 0);
  b.writeUInt16BE(r.chance(0.8) ? r.pick([0, 1, 2, 4]) : r.u16(), 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(BigInt(r.u32()), 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length >>> 0, 24);
  return b;
}

/** Bytes for one fuzz connection. */
function connectionInput(r: Rng, exportName: string): Buffer[] {
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(r.chance(0.9) ? r.pick([1, 3]) : r.u32(), 0);
  const k = r.next();
  if (k < 0.15) return [Buffer.from(r.bytes(1 + r.int(300)))];
  const opts = Array.from({ length: 1 + r.int(4) }, () => option(r, exportName));
  if (k < 0.5) return [flags, ...opts.map((o) => (r.chance(0.2) ? Buffer.from(r.mutate(o)) : o))];
  // A good GO then requests.
  const name = Buffer.from(exportName);
  const go = Buffer.alloc(16 + 4 + name.length + 2);
  go.writeBigUInt64BE(IHAVEOPT, 0); go.writeUInt32BE(7, 8); go.writeUInt32BE(4 + name.length + 2, 12);
  go.writeUInt32BE(name.length, 16); name.copy(go, 20); go.writeUInt16BE(0, 20 + name.length);
  const reqs = Array.from({ length: 1 + r.int(6) }, () => (r.chance(0.15) ? Buffer.from(r.mutate(request(r))) : request(r)));
  return [Buffer.from([0, 0, 0, 1]), go, ...reqs];
}

function sendAll(path: string, chunks: Buffer[]): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.createConnection(path);
    s.on('error', () => {});
    s.resume();
    s.once('connect', () => { for (const c of chunks) s.write(c); resolve(s); });
    s.once('close', () => resolve(s));
  });
}

async function verify(c: NbdClient, r: Rng, label: string): Promise<string | null> {
  const off = r.int(SIZE / 4096) * 4096;
  const data = r.bytes(4096);
  await c.write(off, data, r.chance(0.5));
  const back = new Uint8Array(4096);
  await c.read(off, back);
  return Buffer.compare(Buffer.from(back), Buffer.from(data)) === 0 ? null : `${label}: read-back mismatch at ${off}`;
}

export async function fuzzNbd(o: FuzzOptions): Promise<FuzzResult> {
  const t = new Tally('nbd', o.seed);
  const r = new Rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'nl-fuzz-nbd-'));
  const errors: string[] = [];
  const store = await startBlockStore({
    dir, socketPath: join(dir, 'nbd.sock'),
    log: { debug() {}, info() {}, warn: (obj) => t.count(String((obj as { event?: string }).event ?? 'warn')), error: (obj) => errors.push(JSON.stringify(obj)) },
  });
  const sockPath = join(dir, 'nbd.sock');
  try {
    return await catchingUncaught(t, async () => {
      await store.createExport(EXPORT, SIZE);
      await store.createExport(KEEP, SIZE);
      const url = store.url(KEEP);
      const keeper = await NbdClient.connect(url, { timeoutMs: 5000 });
      const baseline = store.connections();
      let it = 0;
      while (it < o.iterations) {
        const n = Math.min(BATCH, o.iterations - it);
        const socks = await Promise.all(Array.from({ length: n }, () => { t.inputs++; return sendAll(sockPath, connectionInput(r, EXPORT)); }));
        it += n;
        await new Promise((res) => setTimeout(res, 10));
        for (const s of socks) s.destroy();
        for (const e of errors.splice(0)) t.find(it, 'crash', `block store logged an error: ${e}`);
        try {
          const bad = await verify(keeper, r, 'connection opened before fuzzing');
          if (bad) t.find(it, 'invariant', bad);
          const fresh = await NbdClient.connect(url, { timeoutMs: 5000 });
          const bad2 = await verify(fresh, r, 'fresh connection');
          if (bad2) t.find(it, 'invariant', bad2);
          await fresh.close();
        } catch (e) {
          t.find(it, 'invariant', `block store stopped serving good clients: ${(e as Error).message}`);
          break;
        }
        if (it % 500 === 0) o.log?.(`nbd: ${it}/${o.iterations}`);
      }
      // Every fuzz connection must be released (no leaked sockets or half-open transmissions).
      for (let i = 0; i < 100 && store.connections() > baseline; i++) await new Promise((res) => setTimeout(res, 20));
      if (store.connections() > baseline) t.find(it, 'invariant', `${store.connections() - baseline} fuzz connections still open after close`);
      await keeper.close();
      return t.done(it);
    });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// The halves started by hand, as a student would in three terminals (or on two machines): a card listening for its
// link on TCP, a host dialling it, and a control plane pointed at the card's management URL and token file.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, startCommand, until } from '../helpers/nitrolab-up.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const start = async (args: string[], procs: ChildProcess[]): Promise<Record<string, string>> => (await startCommand(args, procs)).ready;

t.test('card, host and control plane started separately work together over a TCP link', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nl-split-'));
  const procs: ChildProcess[] = [];
  t.teardown(() => {
    for (const p of procs) p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const linkPort = await freePort();
  const card = await start(['card', '--listen', `127.0.0.1:${linkPort}`, '--data-dir', join(dir, 'card')], procs);
  await start(['host', '--card', `127.0.0.1:${linkPort}`], procs);
  const cp = await start(['control-plane', '--port', '0', '--data-dir', join(dir, 'cp'), '--card', `${card.mgmtUrl},${card.tokenPath}`], procs);
  const url = cp.url ?? '';

  const hosts = await api<{ hosts: { hostId: string }[] }>(url, 'GET', '/v1/hosts');
  t.equal(hosts.status, 200);
  const launch = await api<{ instances: { instanceId: string }[] }>(url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: 'lsblk',
  });
  t.equal(launch.status, 201);
  const id = launch.body.instances[0]?.instanceId ?? '';
  const text = await until('lsblk output', async () => {
    const r = await api<string>(url, 'GET', `/v1/instances/${id}/console`);
    // lsblk's row, not the kernel's "nvme0n1: … logical blocks" line, which comes earlier in the boot.
    return typeof r.body === 'string' && /nvme0n1\s+\d/.test(r.body) ? r.body : undefined;
  });
  t.match(text, /nvme0n1\s+1G/, 'the guest sees its 1 GiB EBS volume through a card reached over TCP');
});

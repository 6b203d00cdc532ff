// The management path of issue 5 with card, host and control plane as separate processes, as a student would start
// them: the host listens nowhere and outlives its card, reconnecting (passive control path); attestation through the control
// plane verifies with `nitrolab attest` and fails with another nonce; the serial console lives on the card (it
// survives a control-plane restart) and is interactive over the control plane's websocket.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, apiKeyFor, startCommand, until } from '../helpers/nitrolab-up.ts';
import { openConsole, wsUrl } from '../helpers/console-ws.ts';

const BIN = fileURLToPath(new URL('../../bin/nitrolab.js', import.meta.url));
const DEV_PUB = fileURLToPath(new URL('../../firmware/keys/dev-root.pub.pem', import.meta.url));

const start = startCommand;

/** Run a CLI command to completion. */
function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve) => p.on('exit', (code) => resolve({ code, out })));
}

/** Socket inodes among a process's open file descriptors. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) out.add(m[1]);
    } catch { /* fd closed meanwhile */ }
  }
  return out;
}

/** Rows of /proc/<pid>/net/<table> (the process's network namespace) as inode → state/flags. */
function netTable(pid: number, table: 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix'): Array<{ inode: string; listening: boolean }> {
  const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const f = l.trim().split(/\s+/);
    if (table === 'unix') {
      // Num RefCount Protocol Flags Type St Inode [Path]; Flags __SO_ACCEPTCON (0x10000) = listening
      return { inode: f[6] ?? '', listening: (parseInt(f[3] ?? '0', 16) & 0x10000) !== 0 };
    }
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; TCP st 0A = LISTEN; any bound UDP socket receives
    return { inode: f[9] ?? '', listening: table.startsWith('udp') || f[3] === '0A' };
  });
}

t.test('management offload: passive host, attestation via the control plane, the card\'s console', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nl-mgmt-'));
  const procs: ChildProcess[] = [];
  t.teardown(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const link = join(dir, 'link.sock');
  const card = await start(['card', '--listen', link, '--data-dir', join(dir, 'card')], procs);
  const host = await start(['host', '--card', link], procs);
  const cardSpec = `${card.ready['mgmtUrl']},${card.ready['tokenPath']}`;
  let cp = await start(['control-plane', '--port', '0', '--data-dir', join(dir, 'cp'), '--card', cardSpec], procs);
  let url = cp.ready['url'] ?? '';

  await t.test('the host process opens no listening socket: nobody can drive it but its card', async (t) => {
    const pid = host.proc.pid ?? 0;
    const mine = socketInodes(pid);
    t.ok(mine.size > 0, `the host holds ${mine.size} socket(s): its link connections to the card`);
    let seen = 0;
    for (const table of ['tcp', 'tcp6', 'udp', 'udp6', 'unix'] as const) {
      for (const row of netTable(pid, table)) {
        if (!mine.has(row.inode)) continue;
        seen++;
        t.notOk(row.listening, `host socket ${row.inode} in /proc/net/${table} is not listening`);
      }
    }
    t.equal(seen, mine.size, 'every host socket was found in the tables and none listens');
  });

  const launch = await api<{ instances: Array<{ instanceId: string }> }>(url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: 'echo console-before-restart',
  });
  t.equal(launch.status, 201, JSON.stringify(launch.body));
  const id = launch.body.instances[0]?.instanceId ?? '';

  await t.test('attestation through the control plane verifies, and fails with another nonce', async (t) => {
    const nonce = `nonce-${Date.now().toString(16)}-e2e`;
    const doc = join(dir, 'attestation.json');
    const got = await run(['attest', 'get', '--url', `${url}/v1/hosts/host-0/attestation`, '--nonce', nonce, '--pub', DEV_PUB, '--out', doc],
      { ...process.env, NITROLAB_API_KEY: apiKeyFor(url) ?? '' });
    t.equal(got.code, 0, got.out);
    t.match(got.out, /nonce/);
    const bad = await run(['attest', 'verify', '--file', doc, '--nonce', 'some-other-nonce', '--pub', DEV_PUB]);
    t.equal(bad.code, 1, 'a document for another nonce is refused');
    t.match(bad.out, /FAIL \[nonce-mismatch\]/);
    const unknown = await api<{ code: string }>(url, 'GET', `/v1/hosts/host-9/attestation?nonce=${nonce}`);
    t.equal(unknown.status, 404);
    t.equal(unknown.body.code, 'InvalidHostID.NotFound');
    const short = await api<{ code: string }>(url, 'GET', '/v1/hosts/host-0/attestation?nonce=x');
    t.equal(short.status, 400);
    t.equal(short.body.code, 'InvalidParameterValue');
  });

  await t.test('console output lives on the card and survives a control-plane restart', async (t) => {
    // Watch the card directly (as its operator, with its token) so the first control plane never caches the console.
    const token = readFileSync(card.ready['tokenPath'] ?? '', 'utf8').trim();
    await until('user data output on the card', async () => {
      const r = await fetch(`${card.ready['mgmtUrl']}/mgmt/v1/instances/${id}/console?offset=0`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await r.json()) as { data?: string };
      return body.data?.includes('\nconsole-before-restart') ? true : undefined;
    }, 90_000);
    cp.proc.kill('SIGKILL');
    await cp.exited;
    // With no control plane at all, the instance keeps running: its shell answers through the card's console.
    const cardConsole = `${card.ready['mgmtUrl']}/mgmt/v1/instances/${id}/console`;
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const typed = await fetch(cardConsole, { method: 'POST', headers: auth, body: JSON.stringify({ data: 'echo while-the-control-plane-is-down\n' }) });
    t.equal(typed.status, 200, 'the card takes console input while the control plane is down');
    await until('the guest answers while the control plane is down', async () => {
      const r = await fetch(`${cardConsole}?offset=0`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await r.json()) as { data?: string };
      return /\nwhile-the-control-plane-is-down\r?\n/.test(body.data ?? '') ? true : undefined;
    }, 60_000);
    cp = await start(['control-plane', '--port', '0', '--data-dir', join(dir, 'cp'), '--card', cardSpec], procs);
    url = cp.ready['url'] ?? '';
    const text = await api<string>(url, 'GET', `/v1/instances/${id}/console`);
    t.equal(text.status, 200);
    t.match(text.body, /\nconsole-before-restart/, 'the new control plane serves output produced before it started');
    t.match(text.body, /\nwhile-the-control-plane-is-down/, '… and output produced while there was none');
    const listed = await api<{ instances: Array<{ instanceId: string; state: { name: string } }> }>(url, 'GET', '/v1/instances');
    t.match(listed.body.instances?.find((i) => i.instanceId === id), { state: { name: 'running' } }, 'the restarted control plane recovers the instance from SQLite, running');
  });

  await t.test('an interactive console over the websocket reaches the guest shell', async (t) => {
    await until('instance running', async () => {
      const r = await api<{ state: { name: string } }>(url, 'GET', `/v1/instances/${id}`);
      return r.body.state?.name === 'running' ? true : undefined;
    });
    const apiKey = apiKeyFor(url) ?? '';
    const con = await openConsole(wsUrl(url, `/v1/instances/${id}/console/ws`), { apiKey });
    t.teardown(() => con.close());
    con.send('echo hello-from-ws\n');
    await con.waitFor(/\nhello-from-ws\r?\n/);
    t.pass('the echo came back through card → control plane → websocket');
    const mark = con.text().length;
    con.send('lsblk\n');
    const m = await con.waitFor(/nvme0n1\s+1G/, { from: mark });
    t.ok(m, 'lsblk shows the EBS volume');

    await t.rejects(openConsole(wsUrl(url, `/v1/instances/${id}/console/ws`)), /401/, 'no API key: refused before the upgrade');
    await t.rejects(openConsole(wsUrl(url, '/v1/instances/i-0123456789abcdef0/console/ws'), { apiKey }), /404/, 'unknown instance: refused before the upgrade');
    await t.rejects(openConsole(wsUrl(url, '/v1/instances/bogus/console/ws'), { apiKey }), /400/, 'malformed id: refused before the upgrade');
  });

  await t.test('management calls for an unknown instance get 404 InstanceNotFound from the card', async (t) => {
    const token = readFileSync(card.ready['tokenPath'] ?? '', 'utf8').trim();
    for (const [method, path] of [['GET', ''], ['POST', '/stop'], ['POST', '/start'], ['POST', '/reboot'], ['DELETE', '']] as const) {
      const r = await fetch(`${card.ready['mgmtUrl']}/mgmt/v1/instances/i-0123456789abcdef0${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      t.equal(r.status, 404, `${method} ${path || '/'}`);
      t.equal(((await r.json()) as { code: string }).code, 'InstanceNotFound');
    }
  });

  await t.test('the host outlives its card: it keeps running and reconnects with backoff', async (t) => {
    card.proc.kill('SIGKILL');
    await until('the host notices the card is gone', async () => (/card-link-down/.test(host.output()) ? true : undefined), 20_000);
    await until('the host retries the card', async () => (/card-reconnect-retry/.test(host.output()) ? true : undefined), 20_000);
    t.equal(host.proc.exitCode, null, 'still running (docs/reliability.md § card crash and restart)');
  });
});

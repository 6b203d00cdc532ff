// Isolation and access (issue 9 §4): the card's management API needs the card token (401 and a log line otherwise,
// against the real card process); the REST API needs an API key (401 without, 403 for a write with the read-only
// key), which `nitrolab up` generates and keeps; and no endpoint of either gives shell or file access to a host.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../../src/control-plane/app.ts';
import { panelPlugin } from '../../src/control-plane/panel-plugin.ts';
import { resolveApiKeys } from '../../src/cli/api-keys.ts';
import { api, startNitrolab } from '../helpers/nitrolab-up.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SUSPICIOUS = /exec|shell|ssh|file|upload|download|eval|cmd|command|spawn|fs\b/i;

function tmp(t: { teardown(fn: () => void): void }, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('the real card process answers 401 to management requests without the card token, and logs each one', async (t) => {
  const dir = tmp(t, 'nl-access-card-');
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'card', '--listen', join(dir, 'link.sock'), '--data-dir', join(dir, 'card'), '--mgmt-port', '0', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`card not ready: ${out}`)), 60_000);
    proc.on('message', (m: Record<string, unknown>) => { if (m.type === 'ready') { clearTimeout(timer); resolve(m); } });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`card exited (${code}): ${out}`)); });
  });
  const base = String(ready.mgmtUrl);
  const token = readFileSync(String(ready.tokenPath), 'utf8').trim();
  t.equal(statSync(String(ready.tokenPath)).mode & 0o077, 0, 'the token file is readable by its owner only');
  const routes: [string, string][] = [
    ['GET', '/mgmt/v1/card'], ['POST', '/mgmt/v1/instances'], ['GET', '/mgmt/v1/instances/i-0123456789abcdef0'],
    ['DELETE', '/mgmt/v1/instances/i-0123456789abcdef0'], ['GET', '/mgmt/v1/instances/i-0123456789abcdef0/console'],
    ['POST', '/mgmt/v1/instances/i-0123456789abcdef0/console'], ['GET', '/mgmt/v1/attestation?nonce=0123456789abcdef'],
    ['GET', '/mgmt/v1/vpc'], ['POST', '/mgmt/v1/instances/i-0123456789abcdef0/stop'],
  ];
  let refused = 0;
  for (const [method, path] of routes) {
    for (const auth of [undefined, 'Bearer wrong-token', `Bearer ${token}x`, token, `Basic ${Buffer.from(`x:${token}`).toString('base64')}`]) {
      const res = await fetch(base + path, { method, headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      await res.text();
      t.equal(res.status, 401, `${method} ${path} with ${auth === undefined ? 'no token' : 'a wrong credential'} → 401`);
      refused++;
    }
  }
  const ok = await fetch(`${base}/mgmt/v1/card`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(ok.status, 200, 'the right token is accepted');
  await ok.text();
  await new Promise((r) => setTimeout(r, 200));
  const lines = out.split('\n').filter((l) => l.includes('"mgmt-unauthorized"'));
  t.equal(lines.length, refused, 'one mgmt-unauthorized log line per refused request');
  // With the token: nothing executes commands or reads host files.
  for (const path of ['/mgmt/v1/exec', '/mgmt/v1/shell', '/mgmt/v1/files?path=/etc/passwd', '/mgmt/v1/../../../../etc/passwd', '/mgmt/v1/%2e%2e/%2e%2e/etc/passwd', '/etc/passwd']) {
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    t.equal(res.status, 404, `${path} → 404`);
    t.notMatch(body, /root:.*:0:0:/, `${path} leaks no host file`);
  }
});

t.test('the REST API: 401 without a key or with a wrong one, reads with the read-only key, 403 for its writes', async (t) => {
  const app = await buildApp({ dataDir: tmp(t, 'nl-access-cp-'), cards: [], logger: false, apiToken: 'admin-key', apiReadOnlyToken: 'ro-key', plugins: [{ plugin: panelPlugin, options: { apiToken: 'admin-key', periodMs: 60_000 } }] });
  t.teardown(() => app.close());
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, key?: string, extra: Record<string, string> = {}) => {
    const res = await app.inject({ method, url, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra }, ...(method === 'POST' ? { payload: {} } : {}) });
    return { status: res.statusCode, body: res.json<{ code?: string }>(), headers: res.headers };
  };
  for (const [method, url] of [['GET', '/v1/instances'], ['POST', '/v1/instances'], ['DELETE', '/v1/instances/i-0123456789abcdef0'], ['GET', '/v1/hosts']] as const) {
    t.same([(await call(method, url)).status, (await call(method, url)).body.code], [401, 'Unauthorized'], `${method} ${url} without a key → 401`);
    t.equal((await call(method, url, 'admin-keyx')).status, 401, `${method} ${url} with a wrong key → 401`);
    const ro = await call(method, url, 'ro-key');
    if (method === 'GET') t.equal(ro.status, 200, `${method} ${url} with the read-only key → 200`);
    else t.same([ro.status, ro.body.code], [403, 'UnauthorizedOperation'], `${method} ${url} with the read-only key → 403`);
    t.not((await call(method, url, 'admin-key')).status, 401, `${method} ${url} with the admin key passes authentication`);
  }
  t.equal((await call('GET', '/healthz')).status, 200, '/healthz stays open');
  // The panel: /?apiKey=<key> sets an HttpOnly cookie that then authenticates /v1 reads.
  const page = await app.inject({ method: 'GET', url: '/?apiKey=admin-key' });
  const cookie = String(page.headers['set-cookie'] ?? '');
  t.match(cookie, /^nitrolab_key=admin-key; HttpOnly; SameSite=Strict/, 'the panel URL sets the key cookie');
  t.equal((await call('GET', '/v1/instances', undefined, { cookie: 'nitrolab_key=admin-key' })).status, 200, 'the cookie authenticates');
  t.equal((await call('GET', '/v1/instances', undefined, { cookie: 'nitrolab_key=nope' })).status, 401, 'a wrong cookie does not');
  const noCookie = await app.inject({ method: 'GET', url: '/?apiKey=nope' });
  t.notOk(noCookie.headers['set-cookie'], 'a wrong key in the panel URL sets no cookie');
  // No shell or file access anywhere in the API.
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
  const suspicious = Object.keys(doc.paths).filter((p) => SUSPICIOUS.test(p.replace(/mirror\.pcap$/, '')));
  t.same(suspicious, [], 'no route looks like command execution or file access');
  for (const path of ['/panel/../../../../etc/passwd', '/panel/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/panel/vendor/../../../../etc/passwd', '/panel/..%2f..%2f..%2f..%2fetc%2fpasswd']) {
    const res = await app.inject({ method: 'GET', url: path });
    t.notMatch(res.body, /root:.*:0:0:/, `${path} leaks no host file (status ${res.statusCode})`);
  }
});

t.test('API keys: generated once, kept 0600 in the data dir, NITROLAB_API_KEY wins', async (t) => {
  const dir = tmp(t, 'nl-access-keys-');
  const a = resolveApiKeys(dir, {});
  t.ok(a.generated, 'first start generates');
  t.match(a.admin, /^nla_.{20,}/);
  t.match(a.readOnly, /^nlr_.{20,}/);
  t.equal(statSync(a.file).mode & 0o077, 0, 'the key file is readable by its owner only');
  const b = resolveApiKeys(dir, {});
  t.same([b.admin, b.readOnly, b.generated, b.source], [a.admin, a.readOnly, false, 'file'], 'a restart keeps the keys and prints nothing new');
  const c = resolveApiKeys(dir, { NITROLAB_API_KEY: 'from-env' });
  t.same([c.admin, c.readOnly, c.source], ['from-env', a.readOnly, 'env']);
});

t.test('nitrolab up enforces its key on the REST API', async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  t.equal((await api(nl.url, 'GET', '/v1/instances', undefined, { key: null })).status, 401, 'no key → 401');
  t.equal((await api(nl.url, 'GET', '/v1/instances', undefined, { key: 'wrong' })).status, 401, 'wrong key → 401');
  t.equal((await api(nl.url, 'GET', '/v1/instances')).status, 200, 'the admin key from NITROLAB_API_KEY → 200');
  const keys = JSON.parse(readFileSync(join(nl.dataDir, 'api-keys.json'), 'utf8')) as { readOnly: string; admin?: string };
  t.notOk(keys.admin, 'an admin key given by environment is not written to disk');
  t.equal((await api(nl.url, 'GET', '/v1/hosts', undefined, { key: keys.readOnly })).status, 200, 'read-only key reads');
  t.equal((await api(nl.url, 'POST', '/v1/instances', { instanceType: 'm5.large' }, { key: keys.readOnly })).status, 403, 'read-only key cannot launch');
  t.match(nl.output(), /API keys .*read-only nlr_/, 'the generated read-only key is printed on first start');
  t.match(nl.output(), /"code":"Unauthorized"|Unauthorized/, 'refusals are logged');
});

// `nitrolab attest`: verify a saved document, and fetch one over HTTP with a fresh nonce and verify it.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAttest } from '../../src/cli/attest.ts';
import type { CliIo } from '../../src/cli/firmware.ts';
import { createAttestation } from '../../src/nitro-card/boot/attestation.ts';
import { verifyAndMeasure } from '../../src/nitro-card/boot/security-chip.ts';
import { buildImage, rootKeys, scratchDir } from '../nitro-card/boot/image-fixture.ts';

const keys = rootKeys();

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = { out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
  const code = await runAttest(argv, io);
  return { code, out: stdout.join('\n'), err: stderr.join('\n') };
}

/** A booted card that answers attestation requests. */
function card(t: { teardown(fn: () => void): void }) {
  const work = scratchDir(t);
  const b = verifyAndMeasure({ firmwareDir: buildImage(join(work, 'img'), keys), rootPublicKey: keys.publicKey, cardDataDir: join(work, 'data') });
  const id = b.identity!;
  const attest = (nonce: string) =>
    createAttestation({ nonce, pcrs: b.pcrs, eventLog: b.measurements, firmware: b.firmware, cardPublicKey: id.publicKey, signingKey: id.privateKey, hostId: 'host-7' });
  const pub = join(work, 'root.pub.pem');
  writeFileSync(pub, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  return { work, boot: b, attest, pub };
}

async function listen(t: { teardown(fn: () => void): void }, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('verify accepts a saved document for its nonce and prints the PCRs', async (t) => {
  const c = card(t);
  const file = join(c.work, 'doc.json');
  writeFileSync(file, JSON.stringify(c.attest('nonce-12345678')));
  const r = await run(['verify', '--file', file, '--nonce', 'nonce-12345678', '--pub', c.pub, '--expect-pcr', `2=${c.boot.pcrs[2]}`]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /ok {2}attestation from host host-7/);
  t.match(r.out, /checked: .*root key \(PCR0\), PCR2/);
  t.match(r.out, /PCR4 [0-9a-f]{96} {2}card-identity: ed25519/);
});

t.test('verify exits 1 naming the check for a wrong nonce, a wrong PCR and an unreadable file', async (t) => {
  const c = card(t);
  const file = join(c.work, 'doc.json');
  writeFileSync(file, JSON.stringify(c.attest('nonce-12345678')));
  t.match(await run(['verify', '--file', file, '--nonce', 'someone-elses']), { code: 1, err: /^FAIL \[nonce-mismatch\] attestation rejected: nonce "nonce-12345678" is not the one sent \("someone-elses"\)/ });
  t.match(await run(['verify', '--file', file, '--nonce', 'nonce-12345678', '--expect-pcr', `1=${'ab'.repeat(48)}`]), { code: 1, err: /FAIL \[pcr-mismatch\] .*PCR1/ });
  t.match(await run(['verify', '--file', join(c.work, 'absent.json'), '--nonce', 'n']), { code: 1, err: /FAIL \[format\]/ });
  t.match(await run(['verify', '--file', file, '--nonce', 'nonce-12345678', '--pub', join(c.work, 'absent.pem')]), { code: 1, err: /FAIL \[missing-file\]/ });
});

t.test('get fetches with the nonce as a query parameter and verifies the answer', async (t) => {
  const c = card(t);
  const seen: string[] = [];
  const base = await listen(t, createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(url.pathname);
    const nonce = url.searchParams.get('nonce') ?? '';
    res.setHeader('content-type', 'application/json').end(JSON.stringify(c.attest(nonce)));
  }));
  const out = join(c.work, 'fetched.json');
  const r = await run(['get', '--url', `${base}/v1/hosts/host-7/attestation`, '--nonce', 'fresh-nonce-1', '--pub', c.pub, '--out', out]);
  t.equal(r.code, 0, r.err);
  t.same(seen, ['/v1/hosts/host-7/attestation']);
  t.match(await run(['verify', '--file', out, '--nonce', 'fresh-nonce-1']), { code: 0 }, '--out saved the document');
});

t.test('get sends --token-file as a bearer token', async (t) => {
  const c = card(t);
  const base = await listen(t, createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer s3cret') res.writeHead(401).end('{"code":"Unauthorized"}');
    else res.end(JSON.stringify(c.attest(new URL(req.url ?? '/', 'http://x').searchParams.get('nonce') ?? '')));
  }));
  const token = join(c.work, 'mgmt.token');
  writeFileSync(token, 's3cret\n');
  const url = `${base}/mgmt/v1/attestation`;
  t.match(await run(['get', '--url', url, '--nonce', 'nonce-12345678']), { code: 1, err: /HTTP 401/ });
  t.match(await run(['get', '--url', url, '--nonce', 'nonce-12345678', '--token-file', token]), { code: 0 });
  t.match(await run(['get', '--url', url, '--nonce', 'n', '--token-file', join(c.work, 'absent')]), { code: 2, err: /--token-file .* not readable/ });
});

t.test('get refuses a replayed document, an HTTP error and an unreachable server', async (t) => {
  const c = card(t);
  const replayed = c.attest('old-nonce-0000');
  const base = await listen(t, createServer((req, res) => {
    if (req.url?.startsWith('/missing')) res.writeHead(404).end('{"error":"no such host"}');
    else res.end(JSON.stringify(replayed));
  }));
  t.match(await run(['get', '--url', `${base}/v1/hosts/h/attestation`, '--nonce', 'new-nonce-1111']), { code: 1, err: /FAIL \[nonce-mismatch\]/ });
  t.match(await run(['get', '--url', `${base}/missing`, '--nonce', 'n-1']), { code: 1, err: /FAIL \[fetch\] .*HTTP 404/ });
  const closed = createServer();
  const gone = await listen(t, closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  t.match(await run(['get', '--url', `${gone}/v1/hosts/h/attestation`, '--nonce', 'n-1']), { code: 1, err: /FAIL \[fetch\] .*ECONNREFUSED/ });
});

t.test('missing flags exit 2', async (t) => {
  t.match(await run(['verify', '--file', 'x']), { code: 2, err: /--nonce N is required/ });
  t.match(await run(['get', '--nonce', 'n']), { code: 2, err: /get needs --url/ });
  t.match(await run(['verify', '--file', 'x', '--nonce', 'n', '--expect-pcr', '9=zz']), { code: 2, err: /not I=<96 hex digits>/ });
  t.match(await run(['get', '--url', 'not a url', '--nonce', 'n']), { code: 2, err: /is not a URL/ });
});

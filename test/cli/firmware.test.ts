// `nitrolab firmware`: keygen → build → verify round trip through the CLI, tamper cases exit 1 naming the check.
import t, { type Test } from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFirmware, type CliIo } from '../../src/cli/firmware.ts';
import { flipByte, scratchDir } from '../nitro-card/boot/image-fixture.ts';

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

async function run(argv: string[]) {
  const io = capture();
  const code = await runFirmware(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function signedImage(t: Test) {
  const dir = scratchDir(t);
  const key = join(dir, 'student');
  t.equal((await run(['keygen', '--out', key])).code, 0);
  const img = join(dir, 'img');
  const built = await run(['build', '--out', img, '--key', `${key}.key.pem`, '--version', '2.1.0', '--built-at', '2025-01-01T00:00:00Z']);
  t.equal(built.code, 0, built.err);
  return { dir, img, priv: `${key}.key.pem`, pub: `${key}.pub.pem`, built };
}

t.test('keygen, build and verify round-trip, printing the checks and the PCRs', async (t) => {
  const { img, pub, built } = await signedImage(t);
  t.match(built.out, /built nitrolab-card 2\.1\.0/);
  t.notMatch(built.out, /DEVELOPMENT key/, 'a student key is not labelled as the dev key');
  const r = await run(['verify', '--dir', img, '--pub', pub]);
  t.equal(r.code, 0, r.err);
  for (const line of [/ok {2}signature/, /ok {2}payload: sha256 [0-9a-f]{64}/, /1d0f:8061, nvme-instance-store 1d0f:cd00, virtio-net 1af4:1041/, /PCR0 [0-9a-f]{96} {2}boot-rom/, /PCR2 [0-9a-f]{96} {2}payload/]) {
    t.match(r.out, line);
  }
});

t.test('the default verify checks the committed dev image with the dev key', async (t) => {
  const r = await run(['verify']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /firmware\/card against root key .*dev-root\.pub\.pem/);
});

t.test('verify exits 1 naming the failed check for a tampered payload and for a foreign key', async (t) => {
  const { img, pub } = await signedImage(t);
  const foreign = await run(['verify', '--dir', img]); // default root: the dev key
  t.equal(foreign.code, 1);
  t.match(foreign.err, /^FAIL \[wrong-key\] firmware rejected: manifest was signed by key/);
  flipByte(img, 'payload.bin', 0);
  const tampered = await run(['verify', '--dir', img, '--pub', pub]);
  t.equal(tampered.code, 1);
  t.match(tampered.err, /^FAIL \[payload-hash\] firmware rejected: payload sha256/);
});

t.test('sign re-pins an edited payload so the image verifies again', async (t) => {
  const { img, priv, pub } = await signedImage(t);
  writeFileSync(join(img, 'payload.bin'), 'edited by a student');
  t.equal((await run(['verify', '--dir', img, '--pub', pub])).code, 1);
  const s = await run(['sign', '--dir', img, '--key', priv]);
  t.equal(s.code, 0, s.err);
  t.equal((await run(['verify', '--dir', img, '--pub', pub])).code, 0);
});

t.test('stage verifies an image and stages it in the card data dir', async (t) => {
  const { dir, img, pub } = await signedImage(t);
  const data = join(dir, 'card-data');
  const r = await run(['stage', '--data-dir', data, '--dir', img, '--pub', pub]);
  t.equal(r.code, 0, r.err);
  t.ok(existsSync(join(data, 'firmware', 'staged', 'manifest.json')));
  const refused = await run(['stage', '--data-dir', data, '--dir', img]);
  t.match([refused.code, refused.err], [1, /FAIL \[wrong-key\]/]);
});

t.test('bad usage exits 2 with the usage text; a missing key file exits 1', async (t) => {
  t.match(await run(['frobnicate']), { code: 2, err: /unknown subcommand "frobnicate"/ });
  t.match(await run(['verify', '--bogus']), { code: 2, err: /Unknown option '--bogus'/ });
  t.match(await run(['keygen']), { code: 2, err: /needs --out/ });
  t.match(await run([]), { code: 2, out: /Usage: nitrolab firmware/ });
  const dir = scratchDir(t);
  t.match(await run(['build', '--out', dir, '--key', join(dir, 'absent.pem')]), { code: 1, err: /FAIL \[missing-file\]/ });
  const { pub } = await signedImage(t);
  t.match(await run(['keygen', '--out', pub.replace(/\.pub\.pem$/, '')]), { code: 2, err: /already exists/ });
});

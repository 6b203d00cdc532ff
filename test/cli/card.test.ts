// `nitrolab card --firmware DIR` as a process: a copy of the committed image boots; a tampered copy makes the card
// exit non-zero before it listens anywhere, naming the check that failed (docs/trust.md §2).
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flipByte, scratchDir } from '../nitro-card/boot/image-fixture.ts';

const BIN = fileURLToPath(new URL('../../bin/nitrolab.js', import.meta.url));
const IMAGE = fileURLToPath(new URL('../../firmware/card', import.meta.url));

/** Run `nitrolab card` until it reports ready (then stop it) or exits. */
function card(dir: string, firmware: string): Promise<{ code: number | null; ready: boolean; out: string }> {
  const p = spawn(process.execPath, [BIN, 'card', '--listen', join(dir, 'link.sock'), '--data-dir', join(dir, 'data'), '--firmware', firmware, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  let ready = false;
  p.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  p.on('message', (m: { type?: string }) => { if (m.type === 'ready') { ready = true; p.kill('SIGTERM'); } });
  return new Promise((resolve) => p.on('exit', (code) => resolve({ code, ready, out })));
}

function copyImage(t: Parameters<typeof scratchDir>[0]): { dir: string; fw: string } {
  const dir = scratchDir(t);
  const fw = join(dir, 'fw');
  cpSync(IMAGE, fw, { recursive: true });
  return { dir, fw };
}

t.test('an untouched copy of the committed image boots', async (t) => {
  const { dir, fw } = copyImage(t);
  const r = await card(dir, fw);
  t.ok(r.ready, `the card came up: ${r.out.slice(-400)}`);
});

const tampers: Array<[string, (fw: string) => void, RegExp]> = [
  ['a flipped byte in payload.bin', (fw) => flipByte(fw, 'payload.bin', 100), /firmware rejected \(payload-hash\)/],
  ['a changed version in manifest.json', (fw) => {
    const p = join(fw, 'manifest.json');
    writeFileSync(p, readFileSync(p, 'utf8').replace(/"version": "[^"]+"/, '"version": "9.9.9"'));
  }, /firmware rejected \(signature\)/],
  ['a flipped byte in signature.bin', (fw) => flipByte(fw, 'signature.bin', 5), /firmware rejected \(signature\)/],
];

for (const [what, tamper, check] of tampers) {
  t.test(`${what}: the card refuses to boot and names the check`, async (t) => {
    const { dir, fw } = copyImage(t);
    tamper(fw);
    const r = await card(dir, fw);
    t.notOk(r.ready, 'never ready');
    t.not(r.code, 0, `exit code ${r.code} is non-zero`);
    t.match(r.out, check);
    t.notOk(existsSync(join(dir, 'link.sock')), 'the link was never opened');
  });
}

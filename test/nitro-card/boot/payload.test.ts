// The payload is a deterministic record of the card's code hashes and configuration defaults.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPayload, CARD_DEFAULTS, parsePayload, PAYLOAD_FORMAT } from '../../../src/nitro-card/boot/payload.ts';
import { scratchDir } from './image-fixture.ts';

function tree(t: { teardown(fn: () => void): void }): string {
  const root = scratchDir(t);
  mkdirSync(join(root, 'src/nitro-card/ebs'), { recursive: true });
  writeFileSync(join(root, 'src/nitro-card/ebs/z.ts'), 'export const z = 1;\n');
  writeFileSync(join(root, 'src/nitro-card/a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'src/nitro-card/notes.md'), 'not code');
  return root;
}

t.test('the payload lists every .ts file under the card dirs, sorted, with its SHA-256', async (t) => {
  const root = tree(t);
  const p = parsePayload(buildPayload({ codeRoot: root }));
  t.equal(p.format, PAYLOAD_FORMAT);
  t.same(p.config, CARD_DEFAULTS);
  t.same(p.code.map((f) => f.path), ['src/nitro-card/a.ts', 'src/nitro-card/ebs/z.ts'], 'sorted, .md skipped, missing src/devices skipped');
  t.equal(p.code[0]?.sha256, createHash('sha256').update('export const a = 1;\n').digest('hex'));
  t.equal(p.code[0]?.size, 20);
});

t.test('the same sources give the same bytes; a changed line changes them', async (t) => {
  const root = tree(t);
  const a = buildPayload({ codeRoot: root });
  t.same(buildPayload({ codeRoot: root }), a);
  writeFileSync(join(root, 'src/nitro-card/a.ts'), 'export const a = 2;\n');
  t.not(buildPayload({ codeRoot: root }).toString(), a.toString());
});

t.test('the real card payload covers the card and device sources', async (t) => {
  const p = parsePayload(buildPayload());
  t.ok(p.code.some((f) => f.path === 'src/nitro-card/boot/security-chip.ts'));
  t.ok(p.code.some((f) => f.path.startsWith('src/devices/')));
});

t.test('parsePayload names what is wrong', async (t) => {
  t.throws(() => parsePayload(Buffer.from('nope')), /payload is not JSON/);
  t.throws(() => parsePayload(Buffer.from('{"format":"x"}')), /payload format is "x"/);
  t.throws(() => parsePayload(Buffer.from(`{"format":"${PAYLOAD_FORMAT}","config":[],"code":[]}`)), /config is not an object/);
});

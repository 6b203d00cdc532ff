// Staged firmware updates: verified before staging, applied on the next boot, previous image kept for rollback.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firmwareSlots, resolveBootFirmware, stageUpdate } from '../../../src/nitro-card/boot/update.ts';
import { verifyAndMeasure } from '../../../src/nitro-card/boot/security-chip.ts';
import { buildImage, firmwareErrorOf, flipByte, rootKeys, scratchDir } from './image-fixture.ts';

const keys = rootKeys();

function setup(t: { teardown(fn: () => void): void }) {
  const work = scratchDir(t);
  const data = join(work, 'card-data');
  const dflt = buildImage(join(work, 'default'), keys, { version: '1.0.0' });
  const v2 = buildImage(join(work, 'v2'), keys, { version: '2.0.0', payload: Buffer.from('v2 payload') });
  const v3 = buildImage(join(work, 'v3'), keys, { version: '3.0.0', payload: Buffer.from('v3 payload') });
  return { work, data, dflt, v2, v3, slots: firmwareSlots(data) };
}

t.test('with nothing staged the card boots the default image', async (t) => {
  const s = setup(t);
  const b = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([b.source, b.firmwareDir, b.manifest.version, b.rejected], ['default', s.dflt, '1.0.0', []]);
});

t.test('a staged update is applied on the next boot and stays current afterwards', async (t) => {
  const s = setup(t);
  const staged = stageUpdate(s.data, s.v2, keys.publicKey);
  t.equal(staged.manifest.version, '2.0.0');
  t.equal(resolveBootFirmware(s.data, s.dflt, keys.publicKey).source, 'update', 'first boot after staging applies it');
  t.notOk(existsSync(s.slots.staged), 'staged slot emptied');
  const again = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([again.source, again.manifest.version, again.rollbackDir], ['current', '2.0.0', s.dflt]);
  t.doesNotThrow(() => verifyAndMeasure({ firmwareDir: again.firmwareDir, rootPublicKey: keys.publicKey }), 'the applied image boots');
});

t.test('a second update keeps the image it replaces as the rollback', async (t) => {
  const s = setup(t);
  stageUpdate(s.data, s.v2, keys.publicKey);
  resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  stageUpdate(s.data, s.v3, keys.publicKey);
  const b = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([b.source, b.manifest.version, b.rollbackDir], ['update', '3.0.0', s.slots.previous]);
  t.match(readFileSync(join(s.slots.previous, 'manifest.json'), 'utf8'), /"version": "2.0.0"/);
});

t.test('a bad image is refused at staging and the earlier state is kept', async (t) => {
  const s = setup(t);
  stageUpdate(s.data, s.v2, keys.publicKey);
  resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  flipByte(s.v3, 'payload.bin', 0);
  t.equal(firmwareErrorOf(() => stageUpdate(s.data, s.v3, keys.publicKey)).check, 'payload-hash');
  t.notOk(existsSync(s.slots.staged), 'nothing staged');
  t.notOk(existsSync(`${s.slots.staged}.tmp`), 'no temporary copy left behind');
  const other = buildImage(join(s.work, 'foreign'), rootKeys());
  t.equal(firmwareErrorOf(() => stageUpdate(s.data, other, keys.publicKey)).check, 'wrong-key');
  const b = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([b.source, b.manifest.version], ['current', '2.0.0']);
});

t.test('a staged image tampered after staging is refused at boot and the current image boots', async (t) => {
  const s = setup(t);
  stageUpdate(s.data, s.v2, keys.publicKey);
  resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  stageUpdate(s.data, s.v3, keys.publicKey);
  flipByte(s.slots.staged, 'signature.bin', 3);
  const b = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([b.source, b.manifest.version], ['current', '2.0.0']);
  t.same(b.rejected.map((r) => [r.slot, r.check]), [['staged', 'signature']]);
  t.ok(existsSync(join(s.slots.rejected, 'manifest.json')), 'the refused image is kept for inspection');
  t.notOk(existsSync(s.slots.staged));
});

t.test('a current image that went bad rolls back to the previous one', async (t) => {
  const s = setup(t);
  stageUpdate(s.data, s.v2, keys.publicKey);
  resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  stageUpdate(s.data, s.v3, keys.publicKey);
  resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  flipByte(s.slots.current, 'payload.bin', 0);
  const b = resolveBootFirmware(s.data, s.dflt, keys.publicKey);
  t.same([b.source, b.manifest.version, b.firmwareDir], ['rollback', '2.0.0', s.slots.previous]);
  t.same(b.rejected.map((r) => [r.slot, r.check]), [['current', 'payload-hash']]);
});

t.test('when no image at all is valid the boot is refused with the failing check', async (t) => {
  const s = setup(t);
  flipByte(s.dflt, 'payload.bin', 0);
  t.equal(firmwareErrorOf(() => resolveBootFirmware(s.data, s.dflt, keys.publicKey)).check, 'payload-hash');
});

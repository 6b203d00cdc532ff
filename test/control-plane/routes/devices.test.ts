// POST /v1/instances `devices`: the teaching devices (docs/labs/edu-device.md) reach the card with the launch, are kept
// in SQLite and shown on the instance; anything but a known device is a 400 before any card is asked.
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard } from '../helpers/stand-in-card.ts';

t.test('devices: ["edu"] goes to the card, is stored and survives a control-plane restart', async (t) => {
  const card = await standInCard(t);
  const dir = t.testdir();
  const app = await build(t, { dataDir: dir, cards: [card.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro', devices: ['edu'] } });
  t.equal(res.statusCode, 201, res.body);
  const id = res.json().instances[0].instanceId as string;
  t.same(res.json().instances[0].devices, ['edu'], 'the launch reply shows the device');
  t.same(card.instances.get(id)!.devices, ['edu'], 'the card was asked for it');
  await app.close();
  const again = await build(t, { dataDir: dir, cards: [card.endpoint] });
  t.same((await again.inject(`/v1/instances/${id}`)).json().devices, ['edu'], 'kept in SQLite');
});

t.test('no devices: none asked for, an empty list shown; an unknown device is refused with 400', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const plain = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro' } });
  const id = plain.json().instances[0].instanceId as string;
  t.equal(card.instances.get(id)!.devices, undefined, 'the card gets no devices field');
  t.same(plain.json().instances[0].devices, []);
  const before = card.requests.length;
  const bad = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro', devices: ['gpu'] } });
  t.equal(bad.statusCode, 400);
  t.equal(card.requests.length, before, 'no card was asked');
});

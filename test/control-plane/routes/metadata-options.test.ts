// IMDS metadata options through the REST API: given at launch (validated, defaults filled in, passed to the card,
// stored), changed by PUT /v1/instances/:id/metadata-options (EC2 ModifyInstanceMetadataOptions), kept across a
// control-plane restart (migration 3).
import t from 'tap';
import { build } from '../helpers/build.ts';
import { standInCard } from '../helpers/stand-in-card.ts';

type Inst = { instanceId: string; metadataOptions: { httpTokens: string; httpPutResponseHopLimit: number; httpEndpoint: string } };

t.test('launch without options: EC2 defaults, sent to the card', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro' } });
  t.equal(res.statusCode, 201, res.body);
  const [inst] = res.json().instances as Inst[];
  const want = { httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' };
  t.same(inst!.metadataOptions, want);
  t.same(card.instances.get(inst!.instanceId)!.metadataOptions, want);
});

t.test('launch with options: merged with the defaults, described, modified, and kept across a restart', async (t) => {
  const card = await standInCard(t, { bootImmediately: true });
  const dataDir = t.testdir();
  const app = await build(t, { cards: [card.endpoint], dataDir });
  const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro', metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 } } });
  t.equal(res.statusCode, 201, res.body);
  const id = (res.json().instances as Inst[])[0]!.instanceId;
  t.same(card.instances.get(id)!.metadataOptions, { httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled' });
  t.same(((await app.inject(`/v1/instances/${id}`)).json() as Inst).metadataOptions, { httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled' });

  const mod = await app.inject({ method: 'PUT', url: `/v1/instances/${id}/metadata-options`, payload: { httpEndpoint: 'disabled' } });
  t.equal(mod.statusCode, 200, mod.body);
  t.same(mod.json(), { instanceId: id, metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'disabled' } });
  t.same(card.instances.get(id)!.metadataOptions, { httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'disabled' }, 'the card got the merged options');
  t.ok(card.requests.includes(`PUT /mgmt/v1/instances/${id}/metadata-options`));

  await app.close();
  const again = await build(t, { cards: [card.endpoint], dataDir });
  t.same(((await again.inject(`/v1/instances/${id}`)).json() as Inst).metadataOptions.httpEndpoint, 'disabled', 'stored');
});

t.test('bad options are 400 before any card is asked; unknown instance 404; terminated 409', async (t) => {
  const card = await standInCard(t);
  const app = await build(t, { cards: [card.endpoint] });
  for (const metadataOptions of [{ httpTokens: 'sometimes' }, { httpPutResponseHopLimit: 0 }, { httpPutResponseHopLimit: 65 }, { httpEndpoint: 'off' }, { other: 1 }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro', metadataOptions } });
    t.equal(res.statusCode, 400, JSON.stringify(metadataOptions));
  }
  t.equal(card.instances.size, 0);
  const missing = await app.inject({ method: 'PUT', url: '/v1/instances/i-0123456789abcdef0/metadata-options', payload: { httpTokens: 'required' } });
  t.equal(missing.statusCode, 404, missing.body);
  const id = ((await app.inject({ method: 'POST', url: '/v1/instances', payload: { instanceType: 'emu.micro' } })).json().instances as Inst[])[0]!.instanceId;
  const bad = await app.inject({ method: 'PUT', url: `/v1/instances/${id}/metadata-options`, payload: { httpPutResponseHopLimit: 100 } });
  t.equal(bad.statusCode, 400, bad.body);
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/instances/${id}` })).statusCode, 200);
  const gone = await app.inject({ method: 'PUT', url: `/v1/instances/${id}/metadata-options`, payload: { httpTokens: 'required' } });
  t.equal(gone.statusCode, 409, gone.body);
  t.equal(gone.json().code, 'IncorrectInstanceState');
});

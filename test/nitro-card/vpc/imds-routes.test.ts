// IMDS on the card's management API, through the real buildMgmtApi: metadata options at launch (the card's launch
// schema) and by PUT …/metadata-options, the published identity key (which verifies an identity document signature
// with node:crypto, as docs/vpc.md shows), and the instance as IMDS sees it (defaults, region from the zone).
import t, { type Test } from 'tap';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { buildMgmtApi, type CardApi } from '../../../src/nitro-card/mgmt-api.ts';
import { CardInstance } from '../../../src/nitro-card/instances.ts';
import { createRootLogger } from '../../../src/common/log.ts';
import { ImdsService } from '../../../src/nitro-card/vpc/imds.ts';
import { imdsInstanceOf, imdsMgmtRoutes, IMDS_DEFAULTS } from '../../../src/nitro-card/vpc/imds-routes.ts';
import { GATEWAY_MAC } from '../../../src/nitro-card/vpc/dataplane.ts';

const TOKEN = 'test-card-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const launchBody = (instanceId: string, extra: object = {}) => ({ instanceId, instanceType: 'm5.large', vcpus: 2, memMiB: 8192, userData: '', volumes: [], ...extra });

async function setup(t: Test) {
  const instances = new Map<string, CardInstance>();
  const card: CardApi = {
    info: () => ({}),
    async launch(req) { const inst = new CardInstance(req); instances.set(req.instanceId, inst); return inst; },
    get: (id) => instances.get(id),
    async terminate(id) { const inst = instances.get(id)!; inst.moveTo('terminated', 'test'); return inst; },
    async consoleInput() {},
  };
  const keys = generateKeyPairSync('ed25519');
  const imds = new ImdsService({ gatewayMac: GATEWAY_MAC, lookup: (id) => { const i = instances.get(id); return i && imdsInstanceOf(i); }, signingKey: keys.privateKey });
  const api = await buildMgmtApi(card, TOKEN, createRootLogger({ name: 'test-card', level: 'silent' }), [imdsMgmtRoutes(card, imds, keys.publicKey)]);
  t.teardown(() => api.close());
  return { api, instances, imds, keys };
}

t.test('metadata options: given at launch, merged with the defaults, modified, validated', async (t) => {
  const { api, instances } = await setup(t);
  const id = 'i-0123456789abcdef0';
  const launched = await api.inject({ method: 'POST', url: '/mgmt/v1/instances', headers: auth, payload: launchBody(id, { metadataOptions: { httpTokens: 'required' } }) });
  t.equal(launched.statusCode, 201, launched.body);
  const got = await api.inject({ url: `/mgmt/v1/instances/${id}/metadata-options`, headers: auth });
  t.same(got.json(), { instanceId: id, metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' } });
  const put = await api.inject({ method: 'PUT', url: `/mgmt/v1/instances/${id}/metadata-options`, headers: auth, payload: { httpPutResponseHopLimit: 3 } });
  t.same(put.json(), { instanceId: id, metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 3, httpEndpoint: 'enabled' } });
  t.equal(imdsInstanceOf(instances.get(id)!).options.httpPutResponseHopLimit, 3, 'IMDS sees the change');
  t.equal((await api.inject({ url: `/mgmt/v1/instances/${id}`, headers: auth })).json().metadataOptions.httpPutResponseHopLimit, 3, 'in the instance view');

  for (const bad of [{ httpPutResponseHopLimit: 0 }, { httpPutResponseHopLimit: 65 }, { httpTokens: 'no' }]) { // (unknown members are stripped by the card API's Ajv, as everywhere on it)
    t.equal((await api.inject({ method: 'PUT', url: `/mgmt/v1/instances/${id}/metadata-options`, headers: auth, payload: bad })).statusCode, 400, JSON.stringify(bad));
  }
  const badLaunch = await api.inject({ method: 'POST', url: '/mgmt/v1/instances', headers: auth, payload: launchBody('i-0123456789abcdef1', { metadataOptions: { httpEndpoint: 'off' } }) });
  t.equal(badLaunch.statusCode, 400);
  t.equal((await api.inject({ method: 'PUT', url: '/mgmt/v1/instances/i-0000000000000000f/metadata-options', headers: auth, payload: {} })).statusCode, 404);
  instances.get(id)!.moveTo('terminated', 'test');
  const gone = await api.inject({ method: 'PUT', url: `/mgmt/v1/instances/${id}/metadata-options`, headers: auth, payload: { httpTokens: 'optional' } });
  t.equal(gone.statusCode, 409);
  t.equal(gone.json().code, 'IncorrectInstanceState');
  t.equal((await api.inject({ url: '/mgmt/v1/imds' })).statusCode, 401, 'the card token is needed');
});

t.test('the published identity key verifies an identity document signature', async (t) => {
  const { api, instances, imds } = await setup(t);
  const id = 'i-0123456789abcdef0';
  await api.inject({ method: 'POST', url: '/mgmt/v1/instances', headers: auth, payload: launchBody(id, { availabilityZone: 'eu-west-2b', imageId: 'ami-0abcdef0123456789' }) });
  const published = (await api.inject({ url: '/mgmt/v1/imds', headers: auth })).json() as { identityPublicKey: string; counters: object };
  t.same(published.counters, {});
  const key = createPublicKey({ key: Buffer.from(published.identityPublicKey, 'base64'), format: 'der', type: 'spki' });
  const inst = imdsInstanceOf(instances.get(id)!);
  t.match(inst, { availabilityZone: 'eu-west-2b', region: 'eu-west-2', imageId: 'ami-0abcdef0123456789', accountId: IMDS_DEFAULTS.accountId });
  const eni = { eniId: 'eni-0123456789abcdef0', macAddress: '02:00:00:00:00:01', privateIp: '10.0.0.4', subnetCidr: '10.0.0.0/24', securityGroupIds: ['sg-1'] };
  const req = (path: string) => ({ method: 'GET', path, headers: new Map<string, string>() });
  const doc = imds.responder.answer(req('/latest/dynamic/instance-identity/document'), inst, eni).body;
  const sig = imds.responder.answer(req('/latest/dynamic/instance-identity/signature'), inst, eni).body;
  t.match(JSON.parse(doc), { region: 'eu-west-2', privateIp: '10.0.0.4', instanceId: id });
  t.ok(verify(null, Buffer.from(doc, 'utf8'), key, Buffer.from(sig, 'base64')), 'verifies with the published key');
  t.equal(imds.responder.answer(req('/latest/meta-data/hostname'), inst, eni).body, 'ip-10-0-0-4.eu-west-2.compute.internal');
});

// IMDSv2 from a guest's curl, end to end: `nitrolab up` on loopback, an instance launched with
// metadataOptions.httpTokens = required whose user data asks the card's IMDS (169.254.169.254:80, through the guest's
// own TCP/IP and its virtio-net ENI) without a token (401), with X-Forwarded-For (403), then for a token; the test
// reads the token from the serial console and types a GET with it on the interactive console: the instance's own id.
import t from 'tap';
import { api, startNitrolab, until, type RunningNitrolab } from '../helpers/nitrolab-up.ts';
import { openConsole, wsUrl } from '../helpers/console-ws.ts';

interface Instance { instanceId: string; state: { name: string }; metadataOptions: { httpTokens: string } }

// A whole-system run with a guest booting: more than the default 120 s per file on a loaded machine.
t.setTimeout(300_000);

const consoleOf = async (nl: RunningNitrolab, id: string): Promise<string> => {
  const r = await api<string>(nl.url, 'GET', `/v1/instances/${id}/console`);
  return typeof r.body === 'string' ? r.body : '';
};

t.test('httpTokens required: GET without a token is 401, XFF PUT 403, token PUT, GET with the token is the instance id', async (t) => {
  const nl = await startNitrolab(['--hosts', '1']);
  t.teardown(() => nl.stop());
  const IMDS = 'http://169.254.169.254';
  const userData = [
    `curl -s -i ${IMDS}/latest/meta-data/instance-id`,
    `curl -s -i -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' -H 'X-Forwarded-For: 10.9.9.9' ${IMDS}/latest/api/token`,
    `curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${IMDS}/latest/api/token`,
  ].join('\n');
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', { instanceType: 'emu.nano', userData, metadataOptions: { httpTokens: 'required' } });
  t.equal(r.status, 201, 'launched');
  const inst = r.body.instances[0]!;
  t.equal(inst.metadataOptions.httpTokens, 'required');
  const id = inst.instanceId;

  // A token is 40 bytes, base64url: 54 characters on a line of its own.
  const out = await until('the token on the console', async () => {
    const c = await consoleOf(nl, id);
    return /(^|\n)[A-Za-z0-9_-]{54}(\r?\n|$|[^A-Za-z0-9_-])/.test(c) ? c : undefined;
  }, 120_000);
  t.match(out, /HTTP\/1\.1 401 Unauthorized/, 'GET without a token: 401');
  t.match(out, /HTTP\/1\.1 403 Forbidden/, 'token PUT with X-Forwarded-For: 403');
  t.notMatch(out, new RegExp(`(^|\\n)${id}`), 'no instance id was served without a token');
  const token = /(?:^|\n)([A-Za-z0-9_-]{54})/.exec(out)![1]!;

  const con = await openConsole(wsUrl(nl.url, `/v1/instances/${id}/console/ws`), { apiKey: nl.apiKey });
  t.teardown(() => con.close());
  const mark = con.text().length;
  con.send(`curl -s -H 'X-aws-ec2-metadata-token: ${token}' ${IMDS}/latest/meta-data/instance-id\n`);
  await con.waitFor(new RegExp(`(^|\\n)${id}`), { from: mark, timeoutMs: 60_000 });
  t.pass('GET with the token returned the instance\'s own id');

});

// Management channel JSON framing.
import t from 'tap';
import { LinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { decodeMgmtJson, encodeMgmt, isMgmtEvent, isMgmtReply, isMgmtRequest } from '../../../../src/devices/pcie/link/mgmt.ts';

t.test('requests, replies and events are UTF-8 JSON objects told apart by op / ok / event', async (t) => {
  const r = decodeMgmtJson(encodeMgmt({ op: 'start-vm', vmId: 'i-1' }));
  t.ok(isMgmtRequest(r));
  t.ok(isMgmtReply(decodeMgmtJson(encodeMgmt({ ok: true }))));
  t.ok(isMgmtEvent(decodeMgmtJson(encodeMgmt({ event: 'console', vmId: 'i-1', data: 'é' }))));
});

t.test('malformed UTF-8, malformed JSON and non-objects are EINVAL', async (t) => {
  t.throws(() => decodeMgmtJson(new Uint8Array([0xff, 0xfe])), LinkError);
  t.throws(() => decodeMgmtJson(new TextEncoder().encode('{')), LinkError);
  t.throws(() => decodeMgmtJson(new TextEncoder().encode('[1]')), LinkError);
});

// PCR extend semantics (SHA-384, new = H(old || H(data))) and event-log replay.
import t from 'tap';
import { createHash } from 'node:crypto';
import { PCR, PCR_COUNT, PcrBank, replayEventLog, short } from '../../../src/nitro-card/boot/pcr.ts';

const h = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('sha384');
  for (const p of parts) hash.update(p);
  return hash.digest();
};

t.test('every PCR starts as 48 zero bytes', async (t) => {
  t.same(new PcrBank().values(), Array.from({ length: PCR_COUNT }, () => '0'.repeat(96)));
});

t.test('measure extends PCR[i] with SHA-384(old || SHA-384(data))', async (t) => {
  const bank = new PcrBank();
  bank.measure(PCR.MANIFEST, 'a', 'first', Buffer.from('abc'));
  const once = h(Buffer.alloc(48), h(Buffer.from('abc')));
  t.equal(bank.values()[1], once.toString('hex'));
  bank.measure(PCR.MANIFEST, 'b', 'second', Buffer.from('def'));
  t.equal(bank.values()[1], h(once, h(Buffer.from('def'))).toString('hex'));
  t.equal(bank.values()[0], '0'.repeat(96), 'other PCRs untouched');
});

t.test('the order of measurements matters', async (t) => {
  const a = new PcrBank();
  a.measure(PCR.PAYLOAD, 'x', '', Buffer.from('1'));
  a.measure(PCR.PAYLOAD, 'y', '', Buffer.from('2'));
  const b = new PcrBank();
  b.measure(PCR.PAYLOAD, 'y', '', Buffer.from('2'));
  b.measure(PCR.PAYLOAD, 'x', '', Buffer.from('1'));
  t.not(a.values()[2], b.values()[2]);
});

t.test('replaying the event log reproduces the PCR values', async (t) => {
  const bank = new PcrBank();
  bank.measure(PCR.BOOT_ROM, 'boot-rom', 'rom', Buffer.from('rom'));
  bank.measure(PCR.RUNTIME_CONFIG, 'runtime-config', 'cfg', Buffer.from('{}'));
  const log = bank.eventLog();
  t.same(log.map((e) => [e.pcr, e.event, e.detail]), [[0, 'boot-rom', 'rom'], [3, 'runtime-config', 'cfg']]);
  t.equal(log[0]?.digest, h(Buffer.from('rom')).toString('hex'), 'the log records the digest, not the data');
  t.same(replayEventLog(log), bank.values());
});

t.test('replay refuses events that name no PCR or carry a bad digest', async (t) => {
  t.throws(() => replayEventLog([{ pcr: 9, event: 'e', detail: '', digest: '00'.repeat(48) }]), /PCR9 does not exist/);
  t.throws(() => replayEventLog([{ pcr: 0, event: 'e', detail: '', digest: 'zz' }]), /not 96 hex digits/);
});

t.test('short keeps the first 12 hex digits', async (t) => {
  t.equal(short('0123456789abcdef'), '0123456789ab…');
  t.equal(short('abc'), 'abc');
});

// docs/labs/trust.md, run as a student would: its ```sh blocks in one bash. Asserts what the page tells students to
// look for: the dev image verifies; one flipped payload bit fails `payload-hash` and the card refuses to boot (exit 4,
// secure-boot-refused naming the check); re-signed with a new key it fails `wrong-key` under the dev root and passes
// under the new one; a card booted with that root attests, and the document verifies with PCR2 pinned, and fails
// `untrusted-root`, `nonce-mismatch` and `signature` as the page says.
import t from 'tap';
import { block, LabShell, shBlocks } from './helpers/lab-shell.ts';

t.setTimeout(180_000);

t.test('trust: tamper, refuse, sign your own, boot it, attest', async (t) => {
  const blocks = shBlocks('trust.md');
  const sh = new LabShell({});
  t.teardown(async () => {
    await sh.run('[ -n "${CARD:-}" ] && kill $CARD 2>/dev/null; [ -n "${W:-}" ] && rm -rf "$W"; true').catch(() => {});
    sh.close();
  });
  const run = async (name: string) => {
    const r = await sh.run(block(blocks, name), 90_000);
    t.comment(`${name}:\n${r.out}`);
    return r.out;
  };

  const copy = await run('copy');
  t.match(copy, /^ {2}ok {2}signature: Ed25519 over the canonical manifest, signer 2c3102c6fbbe/mu, 'the dev image verifies under the dev root');
  const devPcr = (n: number, text: string) => new RegExp(`^ {2}PCR${n} ([0-9a-f]{96}) `, 'mu').exec(text)?.[1];
  const dev = [0, 1, 2].map((n) => devPcr(n, copy));
  t.ok(dev.every((p) => p !== undefined), 'PCR0–2 printed');

  const tamper = await run('tamper');
  t.match(tamper, /FAIL \[payload-hash\] firmware rejected: payload sha256 [0-9a-f]{12}… does not match manifest/u, 'one flipped bit: payload-hash');
  t.match(tamper, /exit status 1$/mu);

  const refused = await run('boot-tampered');
  t.match(refused, /"event":"secure-boot-refused","check":"payload-hash"/u, 'the card logs secure-boot-refused with the check');
  t.match(refused, /nitrolab card: firmware rejected \(payload-hash\)/u);
  t.match(refused, /exit status 4$/mu, 'and exits with status 4');

  const own = await run('own-key');
  t.match(own, /FAIL \[wrong-key\] firmware rejected: manifest was signed by key [0-9a-f]{12}… but the root of trust is 2c3102c6fbbe…/u, 'the dev root refuses a foreign signer');
  t.match(own, /exit status 1$/mu);
  const mine = [0, 1, 2].map((n) => devPcr(n, own));
  t.ok(mine.every((p) => p !== undefined), 'the new root verifies it and prints PCRs');
  t.ok(mine.every((p, i) => p !== dev[i]), 'PCR0 (root key), PCR1 (manifest) and PCR2 (payload) all differ from the dev image');

  const boot = await run('boot-own');
  t.match(boot, /"msg":"PCR4 ← card-identity: ed25519 [0-9a-f]{12}…/u, 'the card measures its identity key');
  t.match(boot, /"msg":"firmware nitrolab-card [\d.]+ verified"/u, 'secure boot ok with the new root');
  t.match(boot, /management API http:\/\/127\.0\.0\.1:\d+$/mu);

  const attest = await run('attest');
  t.match(attest, /^ok {2}attestation from host host-0/mu, 'attest get verifies the document');
  t.match(attest, /checked: signature, event log replay, nonce, freshness, root key \(PCR0\)/u);

  const verify = await run('verify');
  t.match(verify, /checked: signature, event log replay, nonce, freshness, root key \(PCR0\), PCR2/u, 'PCR2 pinned to the computed value');
  t.match(verify, /FAIL \[untrusted-root\]/u, 'the dev root does not trust it');
  t.match(verify, /FAIL \[nonce-mismatch\]/u, 'another nonce is a replay');
  t.match(verify, /FAIL \[signature\]/u, 'an edited field breaks the signature');
  t.equal([...verify.matchAll(/^exit status 1$/gmu)].length, 3, 'each failure exits 1');

  t.equal((await sh.run(block(blocks, 'stop'))).code, 0, 'the card stops');
});

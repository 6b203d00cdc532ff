// Card crash cycles with a write-verify checker (issue 9 §1): a guest runs `wvcheck` — rounds of writes over 256
// blocks, each block carrying its block number, a generation and a CRC, odd rounds with FUA and even rounds followed
// by a Flush — while the test kills the card process with SIGKILL N times, each time after the guest has finished a
// round since the previous restart (so it demonstrably carries on). `nitrolab up` restarts only the card; the host
// and the guest stay up. After the last cycle the test ends the workload with ^C on the console; the guest reads every
// block back (none lost, stale, misplaced or corrupt; no I/O error), and the test checks the volume's file on the block
// store from outside: every block holds its own data at the final generation. A second test kills the host instead:
// `up` restarts it, the card's reconciliation stops the instance whose VM is gone, and it can be started again.
//
// N: NITROLAB_CRASH_CYCLES (default 5 in CI; 20 for the full run). `up` runs with NITROLAB_RESTART_STABLE_MS=
// 3000, so a card that stayed up 3 s is restarted after the first backoff step (0.5 s) again instead of doubling.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, startNitrolab, until } from '../helpers/nitrolab-up.ts';
import { childPid } from '../helpers/child-pid.ts';
import { wvcheckBlock, wvcheckParse, WV_BLOCK } from '../../src/host/guest/commands/wvcheck.ts';

const CYCLES = Number(process.env['NITROLAB_CRASH_CYCLES'] ?? 5);
const BLOCKS = 256;

interface Instance { instanceId: string; state: { code: number; name: string } }

const roundsIn = (text: string): number => Math.max(0, ...[...text.matchAll(/wvcheck: round (\d+) done/g)].map((m) => Number(m[1])));
const restarts = (out: string): number => [...out.matchAll(/card host-0 restarted \(attempt/g)].length;

t.test(`${CYCLES} kill -9 cycles of the card under a write-verify workload: no acknowledged durable write lost`, { timeout: 120_000 + CYCLES * 45_000 }, async (t) => {
  process.env['NITROLAB_RESTART_STABLE_MS'] = '3000';
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const up = nl.proc.pid!;
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', {
    instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: `wvcheck /dev/nvme0n1 --blocks ${BLOCKS} --qd 16`,
  });
  t.equal(r.status, 201, 'launched');
  const id = r.body.instances[0]!.instanceId;
  const consoleText = async (): Promise<string> => String((await api<string>(nl.url, 'GET', `/v1/instances/${id}/console`)).body ?? '');
  const host = childPid(up, / host --card /);
  t.ok(host, 'a host process runs');

  let seen = 0;
  for (let i = 1; i <= CYCLES; i++) {
    seen = await until(`a round finished before kill ${i}`, async () => { const n = roundsIn(await consoleText()); return n > seen ? n : undefined; }, 90_000);
    const card = childPid(up, / card --listen /);
    if (card === undefined) throw new Error('no card process');
    process.kill(card, 'SIGKILL');
    await until(`card restart ${i}`, async () => (restarts(nl.output()) >= i ? true : undefined), 90_000);
  }
  seen = await until('a round finished after the last restart', async () => { const n = roundsIn(await consoleText()); return n > seen ? n : undefined; }, 90_000);
  t.pass(`the guest carried on through ${CYCLES} card restarts (round ${seen})`);
  t.equal(childPid(up, / host --card /), host, 'the same host process ran throughout');
  t.notMatch(nl.output(), /host host-0 died/, 'the host never exited');

  // ^C ends the writing after the current round; the guest then reads every block back.
  const hosts = await api<{ hosts: { url: string }[] }>(nl.url, 'GET', '/v1/hosts');
  const token = readFileSync(join(nl.dataDir, 'hosts', 'host-0', 'card', 'mgmt.token'), 'utf8').trim();
  const ctrlC = await fetch(`${hosts.body.hosts[0]!.url}/mgmt/v1/instances/${id}/console`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ data: '\x03' }),
  });
  t.ok(ctrlC.ok, '^C delivered');
  const text = await until('the read-back summary', async () => {
    const c = await consoleText();
    return /wvcheck: blocks=\d+ rounds=\d+ final_gen=\d+ .*io_errors=\d+/.test(c) ? c : undefined;
  }, 90_000);
  const m = /wvcheck: blocks=(\d+) rounds=\d+ final_gen=(\d+) writes=\d+ fua_writes=(\d+) flushes=(\d+) checked=(\d+) lost=(\d+) stale=(\d+) misplaced=(\d+) corrupt=(\d+) io_errors=(\d+)/.exec(text);
  t.ok(m, 'summary line');
  const [blocks, finalGen, fuaWrites, flushes, checked, lost, stale, misplaced, corrupt, ioErrors] = (m ?? []).slice(1).map(Number);
  t.equal(checked, BLOCKS, 'every block read back');
  t.ok(fuaWrites! > 0 && flushes! > 0, `both durability modes exercised (${fuaWrites} FUA writes, ${flushes} flushes)`);
  t.same({ lost, stale, misplaced, corrupt, ioErrors }, { lost: 0, stale: 0, misplaced: 0, corrupt: 0, ioErrors: 0 }, 'no durable write lost, no block holds another block\'s or torn data');
  t.equal(blocks, BLOCKS);

  // The same from outside the guest: the block store's file for the volume.
  const dir = join(nl.dataDir, 'blockstore');
  const images = readdirSync(dir).filter((f) => f.endsWith('.img'));
  t.equal(images.length, 1, 'one volume on the block store');
  const file = readFileSync(join(dir, images[0]!));
  let bad = 0;
  for (let b = 0; b < BLOCKS; b++) {
    const bytes = file.subarray(b * WV_BLOCK, (b + 1) * WV_BLOCK);
    const v = wvcheckParse(bytes, b);
    if (v.verdict !== 'ok' || v.gen !== finalGen || !bytes.equals(wvcheckBlock(b, finalGen!, finalGen! % 2 === 1))) bad++;
  }
  t.equal(bad, 0, `every block on the block store holds its own data at generation ${finalGen}`);
  const inst = await api<Instance>(nl.url, 'GET', `/v1/instances/${id}`);
  t.equal(inst.body.state?.name, 'running', 'the instance is still running');
});

t.test('kill -9 of the host: up restarts it, the card stops the instance whose VM is gone, and it starts again', { timeout: 240_000 }, async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const up = nl.proc.pid!;
  const r = await api<{ instances: Instance[] }>(nl.url, 'POST', '/v1/instances', { instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: 'echo first-boot' });
  t.equal(r.status, 201, 'launched');
  const id = r.body.instances[0]!.instanceId;
  const stateOf = async (): Promise<{ name?: string; text: string }> => {
    const d = await api<Instance>(nl.url, 'GET', `/v1/instances/${id}`);
    return { name: d.body.state?.name, text: JSON.stringify(d.body) };
  };
  await until('running', async () => ((await stateOf()).name === 'running' ? true : undefined), 60_000);
  const host = childPid(up, / host --card /);
  const card = childPid(up, / card --listen /);
  process.kill(host!, 'SIGKILL');
  await until('host restarted', async () => (/host host-0 restarted \(attempt 1/.test(nl.output()) ? true : undefined), 60_000);
  const stopped = await until('the instance stopped by reconciliation', async () => { const s = await stateOf(); return s.name === 'stopped' ? s : undefined; }, 60_000);
  t.match(stopped.text, /not running on its host when the card reconnected/, 'stopped with the card\'s Server.InternalError reason');
  t.equal(childPid(up, / card --listen /), card, 'the card was not restarted');
  const s = await api(nl.url, 'POST', `/v1/instances/${id}/start`);
  t.equal(s.status, 200, 'start accepted');
  await until('running again on the new host', async () => ((await stateOf()).name === 'running' ? true : undefined), 60_000);
  const text = await until('second boot', async () => {
    const c = String((await api<string>(nl.url, 'GET', `/v1/instances/${id}/console`)).body ?? '');
    return [...c.matchAll(/first-boot/g)].length >= 2 ? c : undefined;
  }, 60_000);
  t.ok(text, 'the guest booted again and ran its user data');
});

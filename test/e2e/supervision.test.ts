// `nitrolab up` supervises its children: a card or host that dies is reported with which one, how it ended, and its
// last output — never silently.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { startNitrolab, until } from '../helpers/nitrolab-up.ts';

function childrenOf(pid: number): { pid: number; args: string }[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const m = /^\s*(\d+)\s+(.*)$/.exec(l);
    return { pid: Number(m?.[1]), args: m?.[2] ?? '' };
  });
}

t.test('a killed host process is reported with its name, signal and last log lines', async (t) => {
  const nl = await startNitrolab();
  t.teardown(() => nl.stop());
  const pid = nl.proc.pid;
  if (pid === undefined) throw new Error('no pid');
  const host = childrenOf(pid).find((c) => / host --card /.test(c.args));
  t.ok(host, 'up runs a separate host process');
  const card = childrenOf(pid).find((c) => / card --listen /.test(c.args));
  t.ok(card, 'up runs a separate card process');
  t.not(host?.pid, card?.pid);
  process.kill(host?.pid ?? 0, 'SIGKILL');
  const report = await until('death report', async () => {
    const m = /host host-0 died \(exit code null, signal SIGKILL\); last output:[^\n]*\n(.*)/s.exec(nl.output());
    return m ? m[0] : undefined;
  }, 20_000);
  t.match(report, /host-ready|ready with \d+ pCPU/, 'the report carries the host\'s last log lines');
});

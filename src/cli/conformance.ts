// `nitrolab conformance`: run the conformance suite as the host side of the link against any card process
// (docs/conformance.md). Exit 0 when every mandatory case passes, 1 on a mandatory failure, 2 when the card cannot
// be reached or the flags are wrong.
import { intFlag, parse, UsageError } from './args.ts';
import { runSuite } from '../conformance/runner.ts';
import { socketConnector } from '../conformance/connect.ts';
import { readToken } from '../conformance/session.ts';
import { ALL_CASES } from '../conformance/cases.ts';

export async function runConformance(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    card: { type: 'string' },
    only: { type: 'string', multiple: true },
    json: { type: 'string' },
    nbd: { type: 'string' },
    pcap: { type: 'string' },
    mgmt: { type: 'string' },
    token: { type: 'string' },
    'max-fn': { type: 'string' },
    'timeout-ms': { type: 'string' },
    list: { type: 'boolean' },
  });
  if (values.list) {
    for (const c of ALL_CASES) process.stdout.write(`${c.id}\t${c.level}\t${c.clause}\t${c.title}\n`);
    return 0;
  }
  if (values.card === undefined) throw new UsageError('--card <unix-path|host:port> is required');
  if ((values.mgmt === undefined) !== (values.token === undefined)) throw new UsageError('--mgmt URL and --token FILE go together');
  const only = (values.only ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  const r = await runSuite({
    connector: socketConnector(values.card),
    only,
    jsonFile: values.json,
    nbdUrl: values.nbd,
    pcapFile: values.pcap,
    mgmt: values.mgmt !== undefined && values.token !== undefined ? { url: values.mgmt, token: readToken(values.token) } : undefined,
    maxFn: intFlag('max-fn', values['max-fn'], 8, 1, 0xfffe),
    timeoutMs: intFlag('timeout-ms', values['timeout-ms'], 3000, 100, 600_000),
    write: (s) => process.stdout.write(s),
  });
  return r.exitCode;
}

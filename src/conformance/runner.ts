// The suite's library entry (docs/conformance.md §4): connect as the host, become the hypervisor, find functions,
// run the selected cases in order, and report TAP 14 plus a summary; the CLI and the tests both call runSuite.
import { writeFileSync } from 'node:fs';
import type { Connector } from './connect.ts';
import { SuiteContext, type SuiteOptions } from './context.ts';
import { CardSession, type FnInfo } from './session.ts';
import { ALL_CASES } from './cases.ts';
import { Skip, type TestCase, type TestRecord } from './types.ts';
import { within } from './wait.ts';
import { GUEST_BYTES } from './guest.ts';

export interface RunOptions extends SuiteOptions {
  connector: Connector;
  /** Only cases whose ID starts with one of these prefixes. */
  only?: readonly string[] | undefined;
  /** Probe DEVICE_GET_INFO on fn 1..maxFn. */
  maxFn?: number | undefined;
  jsonFile?: string | undefined;
  /** Where TAP goes (stdout for the CLI). */
  write(s: string): void;
  /** Cases to run instead of the full catalogue (tests). */
  cases?: readonly TestCase[];
}

export interface RunResult {
  records: TestRecord[];
  functions: FnInfo[];
  /** Non-zero when a mandatory case failed or the card could not be reached. */
  exitCode: number;
}

function selected(cases: readonly TestCase[], only: readonly string[] | undefined): TestCase[] {
  if (only === undefined || only.length === 0) return [...cases];
  return cases.filter((c) => only.some((p) => c.id.startsWith(p)));
}

function tapEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/#/g, '\\#').replace(/\n/g, ' ');
}

export async function runSuite(o: RunOptions): Promise<RunResult> {
  const cases = selected(o.cases ?? ALL_CASES, o.only);
  const session = new CardSession(o.connector, o.timeoutMs);
  o.write('TAP version 14\n');
  let ctx: SuiteContext;
  let functions: FnInfo[] = [];
  try {
    await session.startHypervisor();
    const launched = o.mgmt !== undefined ? await session.launch(o.mgmt, GUEST_BYTES) : undefined;
    if (launched?.error !== undefined) o.write(`# management launch failed: ${launched.error}\n`);
    const rc = await session.open('conformance-discovery');
    const probed = await session.probe(rc, o.maxFn ?? 8);
    const fns = [...new Set([...(launched?.fns ?? []), ...probed])].sort((a, b) => a - b);
    for (const fn of fns) functions.push(await session.describe(rc, fn));
    for (const f of functions) {
      o.write(`# fn ${f.fn}: ${f.kind} vendor 0x${f.vendorId.toString(16).padStart(4, '0')} device 0x${f.deviceId.toString(16).padStart(4, '0')} class 0x${f.classCode.toString(16).padStart(6, '0')}\n`);
    }
    if (functions.length === 0) o.write('# no PCI function found: function tests will be skipped\n');
    ctx = new SuiteContext(session, o, functions, launched);
  } catch (e) {
    o.write(`Bail out! cannot set up a link session with the card: ${(e as Error).message}\n`);
    session.close();
    return { records: [], functions, exitCode: 2 };
  }

  o.write(`1..${cases.length}\n`);
  const records: TestRecord[] = [];
  const perCase = Math.max(20_000, o.timeoutMs * 8);
  for (const [i, c] of cases.entries()) {
    let status: TestRecord['status'] = 'pass';
    let message = '';
    try {
      await within(c.run(ctx), perCase, c.id);
    } catch (e) {
      if (e instanceof Skip) status = 'skip';
      else status = 'fail';
      message = (e as Error).message;
    }
    records.push({ id: c.id, group: c.group, status, clause: c.clause, level: c.level, title: c.title, message });
    const head = `${status === 'fail' ? 'not ok' : 'ok'} ${i + 1} - ${c.id} [${c.level}] ${tapEscape(c.title)}`;
    if (status === 'skip') o.write(`${head} # SKIP ${tapEscape(message)}\n`);
    else o.write(`${head}${status === 'fail' && c.level === 'O' ? ' # optional' : ''}\n`);
    if (status === 'fail') o.write(`  ---\n  clause: ${JSON.stringify(c.clause)}\n  message: ${JSON.stringify(message)}\n  ...\n`);
  }
  ctx.close();
  if (o.mgmt !== undefined && !cases.some((c) => c.id === 'MGMT-004')) await session.terminate(o.mgmt).catch(() => undefined);
  session.close();

  o.write(summary(records));
  if (o.jsonFile !== undefined) writeFileSync(o.jsonFile, JSON.stringify(records.map(({ id, group, status, clause, level, message }) => ({ id, group, status, clause, level, message })), null, 2) + '\n');
  const mandatoryFailed = records.some((r) => r.status === 'fail' && r.level === 'M');
  return { records, functions, exitCode: mandatoryFailed ? 1 : 0 };
}

export function summary(records: readonly TestRecord[]): string {
  const groups = new Map<string, { pass: number; fail: number; skip: number; mfail: number }>();
  for (const r of records) {
    const g = groups.get(r.group) ?? { pass: 0, fail: 0, skip: 0, mfail: 0 };
    g[r.status]++;
    if (r.status === 'fail' && r.level === 'M') g.mfail++;
    groups.set(r.group, g);
  }
  const n = (s: TestRecord['status']): number => records.filter((r) => r.status === s).length;
  const lines = [`# summary: ${n('pass')} passed, ${n('fail')} failed (${records.filter((r) => r.status === 'fail' && r.level === 'M').length} mandatory), ${n('skip')} skipped`];
  for (const [g, c] of groups) lines.push(`#   ${g.padEnd(10)} pass ${c.pass}  fail ${c.fail} (M ${c.mfail})  skip ${c.skip}`);
  const skips = new Map<string, string[]>();
  for (const r of records) if (r.status === 'skip') skips.set(r.message, [...(skips.get(r.message) ?? []), r.id]);
  for (const [reason, ids] of skips) lines.push(`#   skipped ${ids.length}: ${reason} (${ids[0]}${ids.length > 1 ? ` … ${ids[ids.length - 1]}` : ''})`);
  for (const r of records) if (r.status === 'fail') lines.push(`#   FAIL ${r.id} [${r.level}] ${r.message}`);
  return lines.join('\n') + '\n';
}

// The conformance suite's public entry points (docs/conformance.md).
export { runSuite, summary, type RunOptions, type RunResult } from './runner.ts';
export { socketConnector, shmConnector, type Connector } from './connect.ts';
export { ALL_CASES } from './cases.ts';
export type { TestCase, TestRecord, Level, Status } from './types.ts';

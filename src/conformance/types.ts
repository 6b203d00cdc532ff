// Conformance suite vocabulary (docs/conformance.md §2): a test case has a stable ID, a group, the spec clause it
// checks, a requirement level (M mandatory, O optional, as in the UNH-IOL plans, specs.md §8.1) and a body that
// passes by returning, fails by throwing, and skips by throwing Skip with a stated reason.
import type { SuiteContext } from './context.ts';

export type Level = 'M' | 'O';
export type Status = 'pass' | 'fail' | 'skip';

export interface TestCase {
  /** Stable ID, e.g. `NVME-ADM-004`. */
  readonly id: string;
  /** Group, e.g. `NVME-ADM` (the ID without its number). */
  readonly group: string;
  /** The clause the test comes from, e.g. `NVMe Base 1.4 §5.15.1 / specs.md §2.8`. */
  readonly clause: string;
  readonly level: Level;
  /** One sentence: what a conforming card does. */
  readonly title: string;
  run(ctx: SuiteContext): Promise<void>;
}

export interface TestRecord {
  id: string;
  group: string;
  status: Status;
  clause: string;
  level: Level;
  title: string;
  message: string;
}

/** Thrown by a test body to skip with a reason. */
export class Skip extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Skip';
  }
}

/** A conformance failure: what was expected and what the card did. */
export class Failure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Failure';
  }
}

export function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Failure(message);
}

export function hex(v: number, width = 0): string {
  return `0x${(v >>> 0).toString(16).padStart(width, '0')}`;
}

/** Build a group's cases with the group prefix and a zero-padded number. */
export function defineGroup(group: string, cases: readonly (Omit<TestCase, 'id' | 'group'> & { n: number })[]): TestCase[] {
  return cases.map(({ n, ...c }) => ({ ...c, id: `${group}-${String(n).padStart(3, '0')}`, group }));
}

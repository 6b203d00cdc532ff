// EC2 instance states and their codes (reference/nitro.md §5, API_InstanceState): the low byte of `code`.
//   launch → pending → running;  terminate → shutting-down → terminated;  stop → stopping → stopped.

export const INSTANCE_STATE_CODES = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;

export type InstanceStateName = keyof typeof INSTANCE_STATE_CODES;
export type InstanceStateCode = (typeof INSTANCE_STATE_CODES)[InstanceStateName];

export interface InstanceState {
  code: InstanceStateCode;
  name: InstanceStateName;
}

export const INSTANCE_STATE_NAMES = Object.keys(INSTANCE_STATE_CODES) as InstanceStateName[];

export function isInstanceStateName(s: unknown): s is InstanceStateName {
  return typeof s === 'string' && Object.hasOwn(INSTANCE_STATE_CODES, s);
}

export function instanceState(name: InstanceStateName): InstanceState {
  return { code: INSTANCE_STATE_CODES[name], name };
}

/** A state the instance never leaves. */
export function isFinalState(name: InstanceStateName): boolean {
  return name === 'terminated';
}

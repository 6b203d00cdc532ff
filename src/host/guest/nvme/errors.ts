// Errors the NVMe driver reports upward: a command that completed with a non-zero status, a command that timed out
// or was cancelled by a controller reset, and a controller that could not be brought up.

/** Status names for messages (specs.md §2.12), keyed `sct:sc`. */
const STATUS_NAMES: Readonly<Record<string, string>> = {
  '0:1': 'Invalid Command Opcode',
  '0:2': 'Invalid Field in Command',
  '0:3': 'Command ID Conflict',
  '0:4': 'Data Transfer Error',
  '0:6': 'Internal Error',
  '0:7': 'Command Abort Requested',
  '0:8': 'Command Aborted due to SQ Deletion',
  '0:11': 'Invalid Namespace or Format',
  '0:12': 'Command Sequence Error',
  '0:19': 'PRP Offset Invalid',
  '0:128': 'LBA Out of Range',
  '0:129': 'Capacity Exceeded',
  '0:130': 'Namespace Not Ready',
  '1:0': 'Completion Queue Invalid',
  '1:1': 'Invalid Queue Identifier',
  '1:2': 'Invalid Queue Size',
  '1:3': 'Abort Command Limit Exceeded',
  '1:5': 'Asynchronous Event Request Limit Exceeded',
  '1:8': 'Invalid Interrupt Vector',
  '1:9': 'Invalid Log Page',
  '1:12': 'Invalid Queue Deletion',
  '2:128': 'Write Fault',
  '2:129': 'Unrecovered Read Error',
  '2:134': 'Access Denied',
};

export function statusName(sct: number, sc: number): string {
  return STATUS_NAMES[`${sct}:${sc}`] ?? `Unknown Status (SCT ${sct} SC 0x${sc.toString(16)})`;
}

/** A command completed with an error status. */
export class NvmeStatusError extends Error {
  readonly sct: number;
  readonly sc: number;
  readonly dnr: boolean;
  readonly opcode: number;
  readonly qid: number;
  constructor(qid: number, opcode: number, sct: number, sc: number, dnr: boolean) {
    super(`${statusName(sct, sc)} (sct ${sct} sc 0x${sc.toString(16)}${dnr ? ' dnr' : ''}) on queue ${qid} opcode 0x${opcode.toString(16)}`);
    this.name = 'NvmeStatusError';
    this.sct = sct;
    this.sc = sc;
    this.dnr = dnr;
    this.opcode = opcode;
    this.qid = qid;
  }
}

/** A command did not complete: it timed out, or a reset or shutdown cancelled it. */
export class NvmeAbortedError extends Error {
  readonly reason: 'timeout' | 'reset' | 'shutdown' | 'dead';
  constructor(reason: NvmeAbortedError['reason'], what: string) {
    super(`${what}: ${reason === 'timeout' ? 'timed out' : reason === 'dead' ? 'controller is dead' : `cancelled by ${reason}`}`);
    this.name = 'NvmeAbortedError';
    this.reason = reason;
  }
}

/** The controller could not be (re)initialised. */
export class NvmeInitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NvmeInitError';
  }
}

// What the card must remember to rebuild itself after a crash (docs/reliability.md § card crash and restart): one
// record per instance — the launch request (instance id, type, vCPUs/memory, user data, volumes with the size, limits
// and DeleteOnTermination the card needs to reopen their NBD exports, the ENI/VPC config), the PCI function numbers it
// created for them, the slots they were assigned, the lifecycle state with its transition history.
//
// Stored as one JSON file per instance in `<card data dir>/instances/<instance id>.json`, replaced atomically: write
// `<id>.json.tmp`, fsync it, rename over the record, fsync the directory. Why not SQLite: the card writes a record on
// launch and on each state change only (a handful per instance), always the whole record, and reads them all once at
// start; an atomic file replace gives exactly that with no schema or native module in the card (which also runs as a
// worker thread of the host process with `--link shm`), and an operator can read the records with `cat`. A crash at any
// point leaves either the old or the new record, never a torn one; a stray `.tmp` is ignored.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { CardFunctionInfo, InstanceState, LaunchRequest, Transition } from './instances.ts';
import type { CardFunction } from './functions.ts';

/** A function the card created for an instance, by number (re-created with the same number after a restart). */
export interface JournalFunction { fn: number; kind: CardFunction['kind']; volumeId?: string }

export interface InstanceRecord {
  version: 1;
  req: LaunchRequest;
  state: InstanceState;
  stateReason: string;
  launchedAt: string;
  transitions: Transition[];
  guestMemBytes: number;
  /** Functions as assigned to the VM (fn, slot): what the guest's drivers know. */
  assigned: CardFunctionInfo[];
  /** Every function the card created for the instance, in creation order. */
  fns: JournalFunction[];
}

const ID = /^i-[0-9a-z]{1,32}$/u;

export class InstanceJournal {
  readonly dir: string;

  constructor(dataDir: string, private readonly log: Logger) {
    this.dir = join(dataDir, 'instances');
    mkdirSync(this.dir, { recursive: true });
  }

  /** Replace the instance's record durably (see the header). */
  save(rec: InstanceRecord): void {
    const id = rec.req.instanceId;
    if (!ID.test(id)) throw new Error(`instance id ${JSON.stringify(id)} cannot name a journal file`);
    const file = join(this.dir, `${id}.json`);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(rec));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dfd = openSync(this.dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  }

  /** Forget an instance (terminated, or its launch failed before anything ran), with its console checkpoint. */
  remove(instanceId: string): void {
    if (!ID.test(instanceId)) return;
    rmSync(join(this.dir, `${instanceId}.json`), { force: true });
    rmSync(join(this.dir, `${instanceId}.console`), { force: true });
  }

  /** Every readable record; a record that does not parse is logged and skipped, never fatal. */
  loadAll(): InstanceRecord[] {
    const out: InstanceRecord[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      if (!name.endsWith('.json')) continue;
      try {
        const rec = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as InstanceRecord;
        if (rec.version !== 1 || typeof rec.req?.instanceId !== 'string' || !Array.isArray(rec.fns)) throw new Error('not a version-1 instance record');
        out.push(rec);
      } catch (e) {
        this.log.error({ event: 'journal-record-unreadable', file: name, err: (e as Error).message }, `instance record ${name} skipped: ${(e as Error).message}`);
      }
    }
    return out;
  }
}

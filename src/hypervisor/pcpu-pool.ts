// The pool of pCPU worker threads. vCPUs of many instances are scheduled onto a few workers (not a thread per
// instance): a VM is placed on the least-loaded worker and stays there.
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startTsWorker } from '../common/ts-worker.ts';
import type { ShmLinkDesc } from '../devices/pcie/link/shm-transport.ts';
import type { Logger } from '../common/log.ts';
import type { FromPcpu, PcpuRequest, ToPcpu } from './pcpu-messages.ts';

const WORKER = new URL('../host/pcpu-worker.ts', import.meta.url);

export interface PcpuLinkConfig { kind: 'socket'; address: string }
export type WorkerLink = PcpuLinkConfig | { kind: 'shm'; desc: ShmLinkDesc; transfer: MessagePort[] };

export interface PcpuEvents {
  console(vmId: string, data: string): void;
  vmState(vmId: string, state: 'booting' | 'running' | 'halted' | 'crashed', reason: string): void;
}

class Pcpu {
  readonly worker: Worker;
  vcpus = 0;
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly online: Promise<void>;
  /** The hypervisor's end of this worker's VM-exit channel (legacy mode: src/hypervisor/exit-messages.ts). */
  readonly exitPort: MessagePort;

  constructor(readonly index: number, link: WorkerLink, log: Logger, events: PcpuEvents) {
    // A shm link descriptor carries a MessagePort, which must be transferred, not cloned.
    const exits = new MessageChannel();
    this.exitPort = exits.port1;
    const transferList = [...(link.kind === 'shm' ? link.transfer : []), exits.port2];
    this.worker = startTsWorker(WORKER, { workerData: { index, link, exitPort: exits.port2 }, transferList, name: `pcpu-${index}` });
    let online!: () => void;
    this.online = new Promise<void>((r) => (online = r));
    this.worker.on('message', (m: FromPcpu) => {
      switch (m.type) {
        case 'ready': online(); break;
        case 'reply': {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (!p) break;
          if (m.ok) p.resolve(m.result);
          else p.reject(Object.assign(new Error(m.message), { code: m.code }));
          break;
        }
        case 'console': events.console(m.vmId, m.data); break;
        case 'vm-state': events.vmState(m.vmId, m.state, m.reason); break;
        case 'log': log[m.level]({ pcpu: index, ...m.obj }, m.msg); break;
      }
    });
    this.worker.on('error', (e) => log.error({ event: 'pcpu-error', pcpu: index, err: e.message }, `pCPU ${index} failed: ${e.message}`));
    this.worker.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`pCPU ${index} exited (${code})`));
      this.pending.clear();
    });
  }

  call(req: PcpuRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as ToPcpu);
    });
  }
}

export class PcpuPool {
  private readonly pcpus: Pcpu[];
  private readonly placement = new Map<string, Pcpu>();

  constructor(links: WorkerLink[], log: Logger, events: PcpuEvents) {
    this.pcpus = links.map((l, i) => new Pcpu(i, l, log, events));
  }

  get size(): number { return this.pcpus.length; }
  async online(): Promise<void> { await Promise.all(this.pcpus.map((p) => p.online)); }
  workers(): Worker[] { return this.pcpus.map((p) => p.worker); }
  exitPorts(): MessagePort[] { return this.pcpus.map((p) => p.exitPort); }

  /** Place a VM on the least-loaded pCPU (by vCPUs already placed). */
  place(vmId: string, vcpus: number): number {
    const p = this.pcpus.reduce((a, b) => (b.vcpus < a.vcpus ? b : a));
    p.vcpus += vcpus;
    this.placement.set(vmId, p);
    return p.index;
  }

  release(vmId: string, vcpus: number): void {
    const p = this.placement.get(vmId);
    if (p) p.vcpus -= vcpus;
    this.placement.delete(vmId);
  }

  call(vmId: string, req: PcpuRequest): Promise<unknown> {
    const p = this.placement.get(vmId);
    if (!p) return Promise.reject(Object.assign(new Error(`VM ${vmId} is not placed on any pCPU`), { code: 'VmNotFound' }));
    return p.call(req);
  }

  async stats(): Promise<unknown[]> {
    return Promise.all(this.pcpus.map((p) => p.call({ type: 'stats' })));
  }

  async close(): Promise<void> {
    for (const p of this.pcpus) p.exitPort.close();
    await Promise.all(this.pcpus.map((p) => p.worker.terminate()));
  }
}

// What a test body gets: the session (connections, the hypervisor role, discovery results), the functions found, and
// lazily built fixtures — one negotiated I/O connection and an NVMe host bound to the first NVMe function.
import type { RootComplex } from '../devices/pcie/link/root-complex.ts';
import type { CardSession, FnInfo, Launched, MgmtOptions } from './session.ts';
import { NvmeHost } from './nvme-host.ts';
import { VirtioHost } from './virtio-host.ts';
import { RawLink } from './raw-link.ts';
import { Skip } from './types.ts';
import { NoMoreConnections } from './connect.ts';

export interface SuiteOptions {
  /** Per-request and per-wait limit (ms). */
  timeoutMs: number;
  nbdUrl?: string | undefined;
  pcapFile?: string | undefined;
  mgmt?: MgmtOptions | undefined;
}

export class SuiteContext {
  private ioRc: RootComplex | undefined;
  private nvmeHost: NvmeHost | undefined;
  private virtioHost: VirtioHost | undefined;
  private readonly raws: RawLink[] = [];

  constructor(
    readonly session: CardSession,
    readonly opts: SuiteOptions,
    readonly functions: readonly FnInfo[],
    readonly launched: Launched | undefined,
  ) {}

  get timeoutMs(): number { return this.opts.timeoutMs; }

  /** The first function found, or Skip. */
  anyFn(): FnInfo {
    const f = this.functions[0];
    if (f === undefined) throw new Skip('no PCI function found on the card (see docs/conformance.md §3.2)');
    return f;
  }

  nvmeFn(): FnInfo {
    const f = this.functions.find((x) => x.kind === 'nvme');
    if (f === undefined) throw new Skip('no NVMe function (class 0x010802) found on the card');
    return f;
  }

  virtioFn(): FnInfo {
    const f = this.functions.find((x) => x.kind === 'virtio');
    if (f === undefined) throw new Skip('no virtio function (vendor 0x1AF4) found (with --mgmt the launch asks for one ENI)');
    return f;
  }

  /** A virtio driver on the first virtio function (fresh guest RAM the first time; each case re-initialises it). */
  async virtio(): Promise<VirtioHost> {
    const f = this.virtioFn();
    this.virtioHost ??= await VirtioHost.attach(await this.io(), f.fn, this.timeoutMs);
    return this.virtioHost;
  }

  /** The shared negotiated connection for function tests. */
  async io(): Promise<RootComplex> {
    this.ioRc ??= await this.session.open('conformance-io');
    return this.ioRc;
  }

  /** An NVMe host on the first NVMe function (fresh guest RAM the first time; call init() to reset the controller). */
  async nvme(): Promise<NvmeHost> {
    const f = this.nvmeFn();
    this.nvmeHost ??= await NvmeHost.attach(await this.io(), f.fn, this.timeoutMs);
    return this.nvmeHost;
  }

  /** An enabled controller with I/O queue pair 1. */
  async nvmeWithIo(): Promise<NvmeHost> {
    const h = await this.nvme();
    await h.init();
    await h.createIoQueues();
    return h;
  }

  /** A new negotiated connection; Skip when the transport has no connection left (a shm card's ring pairs). */
  async open(name: string): Promise<RootComplex> {
    try {
      return await this.session.open(name);
    } catch (e) {
      if (e instanceof NoMoreConnections) throw new Skip(`needs a new link connection: ${e.message}`);
      throw e;
    }
  }

  /** A fresh raw frame-level connection (closed at the end of the run). */
  async raw(): Promise<RawLink> {
    let transport;
    try {
      transport = await this.session.connector.open();
    } catch (e) {
      if (e instanceof NoMoreConnections) throw new Skip(`needs a new link connection: ${e.message}`);
      throw e;
    }
    const r = new RawLink(transport);
    this.raws.push(r);
    return r;
  }

  close(): void {
    for (const r of this.raws) r.close();
  }
}

// The guest kernel: boot banner, page allocator, interrupt table, PCI enumeration and driver binding by class code,
// the block layer, then user data (cloud-init style) and the interactive console shell; poweroff shuts drivers down.
import { BlockLayer } from './block.ts';
import { IrqTable } from './irq.ts';
import { KernelLog } from './klog.ts';
import { PageAllocator, LOW_RESERVED_BYTES, PAGE_SIZE } from './page-alloc.ts';
import { PciBus, bdf, type PciDevice } from './pci.ts';
import { Shell, type Sink } from './shell.ts';
import { TmpFs } from './tmpfs.ts';
import { NvmeDriver } from './nvme/driver.ts';
import type { NvmeOptions } from './nvme/controller.ts';
import { NetStack, type NetStackOptions } from './net/stack.ts';
import { VirtioNetDriver } from './virtio/driver.ts';
import { EduDriver } from './edu/driver.ts';
import type { DriverInstance, KernelServices, PciDriver } from './services.ts';
import type { GuestPlatform } from './platform.ts';
import { allCommands } from './commands/index.ts';

import { GUEST_OS_NAME, GUEST_OS_RELEASE } from './version.ts';

export { GUEST_OS_NAME, GUEST_OS_RELEASE };

export interface BootOptions {
  readonly nvme?: Partial<NvmeOptions>;
  /** Extra PCI drivers, tried before the built-in ones. */
  readonly drivers?: readonly PciDriver[];
  readonly reserveLowBytes?: number;
  readonly net?: Partial<NetStackOptions>;
}

export interface BoundDevice {
  readonly dev: PciDevice;
  readonly driver: PciDriver;
  readonly instance: DriverInstance;
}

export class GuestKernel implements KernelServices {
  readonly platform: GuestPlatform;
  readonly log: KernelLog;
  readonly pages: PageAllocator;
  readonly irqs = new IrqTable();
  readonly pci: PciBus;
  readonly blocks = new BlockLayer();
  readonly nvme: NvmeDriver;
  readonly net: NetStack;
  readonly tmpfs = new TmpFs();
  readonly shell: Shell;
  readonly bootNs: bigint;
  readonly bound: BoundDevice[] = [];
  readonly drivers: readonly PciDriver[];
  /** Resolves when the user data script has run. */
  userDataDone: Promise<void> = Promise.resolve();
  /** Resolves after poweroff. */
  readonly halted: Promise<void>;
  private halt!: () => void;
  private state: 'booting' | 'running' | 'halting' | 'halted' = 'booting';

  constructor(platform: GuestPlatform, opts: BootOptions = {}) {
    this.platform = platform;
    this.bootNs = platform.nowNs();
    this.log = new KernelLog(platform, this.bootNs);
    this.pages = new PageAllocator(platform.mem, opts.reserveLowBytes ?? LOW_RESERVED_BYTES);
    this.pci = new PciBus(platform, this.log);
    this.nvme = new NvmeDriver(opts.nvme ?? {});
    this.net = new NetStack(platform, this.log, opts.net);
    this.drivers = [...(opts.drivers ?? []), this.nvme, new VirtioNetDriver(this.net), new EduDriver()];
    this.shell = new Shell(this, allCommands);
    this.halted = new Promise((r) => { this.halt = r; });
    this.irqs.onHandlerError = (v, owner, err) => this.log.err(`irq ${v} (${owner}): handler failed: ${String(err)}`);
  }

  get hostname(): string { return this.platform.hostname; }
  get uptimeNs(): bigint { return this.platform.nowNs() - this.bootNs; }
  get running(): boolean { return this.state === 'running'; }

  /** Run one shell line after anything queued; output goes to the console. */
  run(line: string): Promise<number> {
    return this.shell.enqueue(line, this.shell.consoleSink());
  }

  /** Run one shell line and capture its output instead of printing it. */
  async exec(line: string): Promise<{ code: number; output: string }> {
    let output = '';
    const sink: Sink = { out: (t) => { output += t; }, err: (t) => { output += t; } };
    const code = await this.shell.enqueue(line, sink);
    return { code, output };
  }

  async boot(): Promise<void> {
    const p = this.platform;
    p.consoleWrite(`\n${GUEST_OS_NAME} guest ${GUEST_OS_RELEASE} booting on ${p.hostname}\n`);
    this.log.info(`${GUEST_OS_NAME} version ${GUEST_OS_RELEASE} (guest kernel, TypeScript) #1 SMP`);
    const kib = (pages: number): number => (pages * PAGE_SIZE) / 1024;
    this.log.info(`Memory: ${kib(this.pages.freePages)}K/${kib(this.pages.totalPages)}K available (${kib(this.pages.firstPage)}K reserved)`);
    p.onInterrupt((v) => this.irqs.dispatch(v));
    // PCIe surprise removal / hot-add of the card's functions (pciehp-like): NVMe controllers reset and wait for them.
    p.onLinkChange?.((up) => { for (const c of this.nvme.controllers) c.linkChanged(up); });
    this.log.info(`PCI: probing bus 00, ${p.slots} slots`);
    const devices = await this.pci.scan();
    for (const dev of devices) await this.bind(dev);
    this.log.info(`Run /sbin/init as init process (${this.blocks.list().length} block device(s))`);
    this.state = 'running';
    p.onConsoleInput((t) => this.shell.input(t));
    this.userDataDone = this.runUserData().then(() => {
      if (this.state === 'running') p.consoleWrite(`\n${p.hostname} login: root (automatic login)\n\n${this.shell.prompt}`);
    });
  }

  private async bind(dev: PciDevice): Promise<void> {
    const driver = this.drivers.find((d) => d.matches(dev));
    if (!driver) return;
    try {
      const instance = await driver.probe(dev, this);
      dev.driver = driver.name;
      this.bound.push({ dev, driver, instance });
    } catch (err) {
      this.log.err(`${driver.name} ${bdf(dev.slot)}: probe failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async runUserData(): Promise<void> {
    const lines = this.platform.userData.split(/\r?\n/u).filter((l) => l.trim() !== '' && !/^#!/u.test(l));
    if (lines.length === 0) return;
    this.log.info(`cloud-init: running ${lines.length} user-data line(s)`);
    for (const line of lines) {
      if (this.state !== 'running') return;
      await this.run(line);
    }
    this.log.info('cloud-init: user data finished');
  }

  /** Shut every driver down (NVMe: CC.SHN handshake), then tell the platform. Idempotent. */
  async poweroff(): Promise<void> {
    if (this.state === 'halting' || this.state === 'halted') return this.halted;
    this.state = 'halting';
    this.shell.close();
    for (const b of [...this.bound].reverse()) {
      try {
        await b.instance.shutdown();
      } catch (err) {
        this.log.err(`${b.driver.name} ${bdf(b.dev.slot)}: shutdown failed: ${String(err)}`);
      }
    }
    this.log.info('reboot: Power down');
    this.state = 'halted';
    this.platform.powerOff?.();
    this.halt();
    return this.halted;
  }
}

/** Boot a guest on `platform`: resolves once drivers are bound; user data then runs (see `userDataDone`). */
export async function bootGuest(platform: GuestPlatform, opts: BootOptions = {}): Promise<GuestKernel> {
  const k = new GuestKernel(platform, opts);
  await k.boot();
  return k;
}

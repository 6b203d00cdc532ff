// The card's view of CPU attribution and I/O, sampled once a second: its own threads (categories nvme, net, mgmt,
// fabric), and its host's (the hypervisor's MGMT 'stats' reply, src/hypervisor/telemetry.ts), turned into the
// per-host record of GET /v1/metrics. CPU figures are cores: CPU seconds per wall second over the last interval.
// Served by metrics-routes.ts at GET /mgmt/v1/metrics and /mgmt/v1/traces.
import type { CardPort, FunctionPort, PciFunctionHandler } from '../devices/pcie/link/card-port.ts';
import { NvmeController } from '../devices/nvme/index.ts';
import type { Logger } from '../common/log.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import { processCpuSec } from '../telemetry/thread-cpu.ts';
import { emptyIoTotals, histogramQuantile, ioTotalsOf, type IoTotals } from '../telemetry/io-counters.ts';
import type { IoTracer, Transaction } from '../telemetry/io-trace.ts';
import type { HostCpuSec, HostTelemetry } from '../hypervisor/telemetry.ts';
import type { FunctionFabric } from './functions.ts';

import type { CardCpu, HostCpu, HostMetricsContract } from '../telemetry/metrics-contract.ts';

export type { CardCpu, HostCpu };

/** One host in GET /v1/metrics: the shared contract (src/telemetry/metrics-contract.ts) plus the card's extensions. */
export interface HostMetrics extends HostMetricsContract {
  link: 'socket' | 'shm';
  /** Extensions. `intervalSec`: the sampling interval the rates cover; `hostReachable`: false if the hypervisor did
   *  not answer (host figures are then 0); `cumulative`: running totals, for runs longer than one interval. */
  intervalSec: number;
  hostReachable: boolean;
  cumulative: Reading;
}

/** Running totals at one instant. */
export interface Reading {
  atMs: number;
  cpuSec: { host: Omit<HostCpu, 'total'>; card: Omit<CardCpu, 'total'> };
  ios: number;
  readBytes: number;
  writeBytes: number;
  packets: number;
  netBytes: number;
  exits: number;
  interrupts: number;
  injections: number;
  histogram: number[];
  queueDepth: number;
}

interface CardLike {
  hypervisorStats(): Promise<unknown>;
  nvmeControllers(): NvmeController[];
  info(): { usage: { instances: number } };
  readonly vpc: { listEnis(): Array<{ counters: { tx_packets: number; rx_packets: number; tx_bytes: number; rx_bytes: number } }> };
}

export interface CardTelemetryOptions {
  hostId: string;
  mode: 'offload' | 'legacy';
  link: 'socket' | 'shm';
  card: CardLike;
  tracer: IoTracer;
  log: Logger;
  /** The card has its process to itself (its own `nitrolab card`): its other threads (libuv's pool doing the volume
   *  file I/O, GC helpers) are counted as nvme. False for a card worker inside the host process. */
  ownsProcess: boolean;
  periodMs?: number;
}

/** Function handlers run inside a ledger region of their device's category (nvme or net); link work around them
 *  is fabric (the peers' `account`). */
export function accountedFabric(port: CardPort): FunctionFabric {
  const ledger = threadLedger();
  return {
    port: (fn: number): FunctionPort => port.port(fn),
    unregisterFunction: (fn: number) => port.unregisterFunction(fn),
    registerFunction: (fn: number, h: PciFunctionHandler): FunctionPort => {
      const category = (h as { model?: unknown }).model instanceof NvmeController ? 'nvme' : 'net';
      return port.registerFunction(fn, {
        configRead: (off, size) => ledger.run(category, () => h.configRead(off, size)),
        configWrite: (off, size, v) => ledger.run(category, () => h.configWrite(off, size, v)),
        barRead: (bar, off, size) => ledger.run(category, () => h.barRead(bar, off, size)),
        barWrite: (bar, off, size, v) => ledger.run(category, () => h.barWrite(bar, off, size, v)),
        ...(h.barPush !== undefined ? { barPush: (bar: number, p: Parameters<NonNullable<PciFunctionHandler['barPush']>>[1]) => ledger.run(category, () => h.barPush!(bar, p)) } : {}),
        reset: () => ledger.run(category, () => h.reset()),
      });
    },
  };
}

const rate = (a: number, b: number, dt: number): number => (dt > 0 ? Math.max(0, b - a) / dt : 0);

export class CardTelemetry {
  readonly #o: CardTelemetryOptions;
  readonly #ledger = threadLedger();
  #prev: Reading | undefined;
  #latest: HostMetrics;
  #hostTraces: Transaction[] = [];
  #hostReachable = false;
  #timer: NodeJS.Timeout | undefined;
  #sampling = false;

  constructor(o: CardTelemetryOptions) {
    this.#o = o;
    // The card's main thread runs the device models: time outside the marked link (fabric), net and mgmt regions is
    // NVMe work (device code continuing after its DMA or backend I/O completes).
    this.#ledger.setDefault('nvme');
    this.#latest = this.#metrics(undefined, this.#zero());
  }

  start(): void {
    const period = this.#o.periodMs ?? 1000;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), period);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The latest record (rates over the last interval). */
  metrics(): HostMetrics { return this.#latest; }

  /** Sampled I/O transactions, newest first: the card's own (offload) or the hypervisor's (legacy). */
  traces(): Transaction[] {
    return this.#o.mode === 'legacy' ? this.#hostTraces : this.#o.tracer.transactions();
  }

  async sample(): Promise<HostMetrics> {
    if (this.#sampling) return this.#latest;
    this.#sampling = true;
    try {
      let host: HostTelemetry | undefined;
      try {
        const r = await this.#o.card.hypervisorStats() as { telemetry?: HostTelemetry };
        host = r.telemetry;
      } catch (e) {
        this.#o.log.debug({ event: 'telemetry-host-unavailable', err: (e as Error).message }, 'hypervisor stats unavailable');
      }
      return this.#ledger.run('mgmt', () => {
        this.#hostReachable = host !== undefined;
        if (host) this.#hostTraces = host.traces;
        const cur = this.#read(host);
        this.#latest = this.#metrics(this.#prev, cur);
        this.#prev = cur;
        return this.#latest;
      });
    } finally {
      this.#sampling = false;
    }
  }

  #zero(): Reading {
    return {
      atMs: Date.now(), cpuSec: { host: { guest: 0, hypervisor: 0, deviceEmulation: 0, fabric: 0 }, card: { nvme: 0, net: 0, mgmt: 0, fabric: 0 } },
      ios: 0, readBytes: 0, writeBytes: 0, packets: 0, netBytes: 0, exits: 0, interrupts: 0, injections: 0, histogram: emptyIoTotals().histogram, queueDepth: 0,
    };
  }

  #read(host: HostTelemetry | undefined): Reading {
    const snap = this.#ledger.settle();
    const c = (k: string): number => snap.categories[k] ?? 0;
    // The card process's threads no ledger owns (libuv pool: the volume file I/O; GC helpers) are the NVMe path's.
    const rest = this.#o.ownsProcess ? Math.max(0, processCpuSec() - snap.threadSec) : 0;
    const card = { nvme: c('nvme') + rest, net: c('net'), mgmt: c('mgmt'), fabric: c('fabric') };
    const h: HostCpuSec = host?.cpuSec ?? { guest: 0, hypervisor: 0, deviceEmulation: 0, fabric: 0, unowned: 0 };
    const hostCpu = { guest: h.guest, hypervisor: h.hypervisor, deviceEmulation: h.deviceEmulation, fabric: h.fabric };
    // The host's unowned threads: in legacy mode the device models' file I/O (libuv pool); with the card inside the
    // host process (shm), that same pool does the card's file I/O; otherwise nothing of ours uses it.
    if (this.#o.mode === 'legacy') hostCpu.deviceEmulation += h.unowned;
    else if (this.#o.link === 'shm') card.nvme += h.unowned;
    else hostCpu.hypervisor += h.unowned;
    const io: IoTotals = this.#o.mode === 'legacy' ? (host?.io ?? emptyIoTotals()) : ioTotalsOf(this.#o.card.nvmeControllers());
    let packets = 0;
    let netBytes = 0;
    for (const e of this.#o.card.vpc.listEnis()) {
      packets += e.counters.tx_packets + e.counters.rx_packets;
      netBytes += e.counters.tx_bytes + e.counters.rx_bytes;
    }
    return {
      atMs: Date.now(), cpuSec: { host: hostCpu, card },
      ios: io.ops, readBytes: io.readBytes, writeBytes: io.writeBytes, packets, netBytes,
      exits: host?.exits ?? 0, interrupts: host?.interrupts ?? 0, injections: host?.injections ?? 0,
      histogram: io.histogram, queueDepth: io.queueDepth,
    };
  }

  #metrics(prev: Reading | undefined, cur: Reading): HostMetrics {
    const p = prev ?? cur;
    const dt = (cur.atMs - p.atMs) / 1000;
    const hc = (k: keyof Reading['cpuSec']['host']) => rate(p.cpuSec.host[k], cur.cpuSec.host[k], dt);
    const cc = (k: keyof Reading['cpuSec']['card']) => rate(p.cpuSec.card[k], cur.cpuSec.card[k], dt);
    const host = { guest: hc('guest'), hypervisor: hc('hypervisor'), deviceEmulation: hc('deviceEmulation'), fabric: hc('fabric'), total: 0 };
    host.total = host.guest + host.hypervisor + host.deviceEmulation + host.fabric;
    const card = { nvme: cc('nvme'), net: cc('net'), mgmt: cc('mgmt'), fabric: cc('fabric'), total: 0 };
    card.total = card.nvme + card.net + card.mgmt + card.fabric;
    const hist = cur.histogram.map((v, i) => Math.max(0, v - (p.histogram[i] ?? 0)));
    return {
      hostId: this.#o.hostId, mode: this.#o.mode, link: this.#o.link,
      cpu: { host, card },
      io: {
        iops: rate(p.ios, cur.ios, dt), readMBps: rate(p.readBytes, cur.readBytes, dt) / 1e6, writeMBps: rate(p.writeBytes, cur.writeBytes, dt) / 1e6,
        pps: rate(p.packets, cur.packets, dt), gbps: (rate(p.netBytes, cur.netBytes, dt) * 8) / 1e9,
      },
      exitsPerSec: rate(p.exits, cur.exits, dt),
      interruptsPerSec: rate(p.interrupts, cur.interrupts, dt),
      queueDepth: cur.queueDepth,
      latencyUs: { p50: histogramQuantile(hist, 0.5), p99: histogramQuantile(hist, 0.99) },
      instances: this.#o.card.info().usage.instances,
      intervalSec: dt,
      hostReachable: this.#hostReachable,
      cumulative: cur,
    };
  }
}

/** The `account` for the card's link peers: their frame work is the card's fabric. */
export const cardLinkAccount = <T>(work: () => T): T => threadLedger().run('fabric', work);

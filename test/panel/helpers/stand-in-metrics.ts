// STAND-IN metrics and traces for panel tests, until GET /v1/metrics and GET /v1/hosts/:id/traces exist (issue 6,
// parts 1–3, built by someone else). Shaped exactly like those endpoints' JSON; the numbers are made up: a legacy
// host spends host cores on exits and device emulation, an offload host spends them on its card instead. Not data.
import type { Avail, HostMetrics, MetricsReply, TraceStep, TracesReply, Transaction } from '../../../src/panel/server/wire.ts';
import type { StandInCard } from '../../control-plane/helpers/stand-in-card.ts';

/** Metrics for each stand-in card: load follows the card's running instances, so a launch shows up in the charts. */
export class StandInMetrics {
  readonly #cards: readonly StandInCard[];
  #tick = 0;
  /** Reads served, so a test can see the panel asked. */
  reads = 0;

  constructor(cards: readonly StandInCard[]) { this.#cards = cards; }

  metrics(): MetricsReply {
    this.reads++;
    const k = this.#tick++;
    return { at: new Date().toISOString(), hosts: this.#cards.map((c, i) => hostMetrics(c, k + i * 7)) };
  }

  traces(hostId: string): Avail<TracesReply> {
    const card = this.#cards.find((c) => c.hostId === hostId);
    if (!card) return { state: 'missing', reason: `GET /v1/hosts/${hostId}/traces answered 404` };
    return { state: 'ok', data: { transactions: [transaction(card.mode, this.#tick)] } };
  }
}

function hostMetrics(card: StandInCard, k: number): HostMetrics {
  const running = [...card.instances.values()].filter((i) => i.state === 'running').length;
  const load = 0.6 + running + 0.3 * Math.sin(k / 4);
  const iops = 18_000 * load;
  const legacy = card.mode === 'legacy';
  const host = {
    guest: 0.9 * load,
    hypervisor: legacy ? 0.25 * load : 0.002,
    deviceEmulation: legacy ? 0.45 * load : 0,
    fabric: 0.05 * load,
    total: 0,
  };
  host.total = host.guest + host.hypervisor + host.deviceEmulation + host.fabric;
  const cardCpu = { nvme: legacy ? 0.01 : 0.42 * load, net: 0, mgmt: 0.02, fabric: legacy ? 0.01 : 0.08 * load, total: 0 };
  cardCpu.total = cardCpu.nvme + cardCpu.net + cardCpu.mgmt + cardCpu.fabric;
  return {
    hostId: card.hostId, mode: card.mode, link: 'socket', cpu: { host, card: cardCpu },
    io: { iops, readMBps: (iops * 4096 * 0.3) / 1e6, writeMBps: (iops * 4096 * 0.7) / 1e6, pps: 0, gbps: 0 },
    exitsPerSec: legacy ? iops * 1.1 : 0,
    interruptsPerSec: iops * 0.9,
    queueDepth: 16,
    latencyUs: { p50: legacy ? 48 : 31, p99: legacy ? 210 : 95 },
    instances: card.instances.size,
  };
}

/** One 4 KiB write, the steps an NVMe I/O takes in each mode; times in ns from an arbitrary origin. */
export function transaction(mode: 'offload' | 'legacy', seed = 0): Transaction {
  const base = 1_000_000_000 + seed * 1000;
  const at = (us: number, kind: TraceStep['kind'], detail: string): TraceStep => ({ tNs: base + Math.round(us * 1000), kind, detail });
  const steps = mode === 'offload'
    ? [
      at(0, 'doorbell', 'SQ1 tail=17 (BAR0 0x1008), posted to the card'),
      at(1.8, 'desc-dma', 'read SQE cid=0x2a at IOVA 0x1f4000'),
      at(3.1, 'data-dma', 'read 4096 B, PRP1 0x2230000'),
      at(4.0, 'backend', 'write LBA 2048+8 to vol-0a1b'),
      at(21.5, 'completion', 'CQE cid=0x2a status 0 at CQ1 head 16'),
      at(22.4, 'msix', 'vector 1 → vCPU 0'),
    ]
    : [
      at(0, 'doorbell', 'SQ1 tail=17 (BAR0 0x1008)'),
      at(0.9, 'exit', 'MMIO write trapped (EPT misconfig), exit to hypervisor'),
      at(3.5, 'desc-dma', 'hypervisor-side model reads SQE cid=0x2a'),
      at(5.2, 'data-dma', 'copy 4096 B from guest RAM'),
      at(6.0, 'backend', 'write LBA 2048+8 to vol-0a1b'),
      at(24.9, 'completion', 'CQE cid=0x2a status 0'),
      at(26.0, 'msix', 'vector 1 raised in the emulated device'),
      at(28.7, 'inject', 'virtual interrupt injected into vCPU 0 on VM entry'),
    ];
  return { mode, steps };
}

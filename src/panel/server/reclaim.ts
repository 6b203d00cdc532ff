// The panel's headline: host cores spent on I/O virtualization (hypervisor + device emulation) in legacy mode versus
// offload mode, and the difference — the cores the card gives back. Fabric (the cost of emulating the wires) is
// reported beside it, not counted as I/O virtualization: a real PCIe link costs the host no CPU to carry a TLP.
import type { HostMetrics, HostMode, ModeCost, Reclaim } from './wire.ts';

/** Loads within this factor of each other (IOPS) are called comparable. */
const COMPARABLE_LOAD = 1.25;

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

export function ioVirtCores(h: HostMetrics): number {
  return h.cpu.host.hypervisor + h.cpu.host.deviceEmulation;
}

function costOf(hosts: readonly HostMetrics[]): ModeCost {
  return {
    hosts: hosts.map((h) => h.hostId),
    ioVirtCores: mean(hosts.map(ioVirtCores)),
    hypervisorCores: mean(hosts.map((h) => h.cpu.host.hypervisor)),
    deviceEmulationCores: mean(hosts.map((h) => h.cpu.host.deviceEmulation)),
    hostFabricCores: mean(hosts.map((h) => h.cpu.host.fabric)),
    cardCores: mean(hosts.map((h) => h.cpu.card.total)),
    iops: mean(hosts.map((h) => h.io.iops)),
    exitsPerSec: mean(hosts.map((h) => h.exitsPerSec)),
  };
}

/** Per host averages by mode; `machineCpus` is the CPU count of the machine the hosts run on. */
export function computeReclaim(hosts: readonly HostMetrics[] | undefined, machineCpus: number): Reclaim {
  if (hosts === undefined || hosts.length === 0) return { kind: 'none' };
  const by = (mode: HostMode) => hosts.filter((h) => h.mode === mode);
  const legacy = by('legacy');
  const offload = by('offload');
  if (legacy.length > 0 && offload.length > 0) {
    const l = costOf(legacy);
    const o = costOf(offload);
    const reclaimedCores = l.ioVirtCores - o.ioVirtCores;
    const lo = Math.min(l.iops, o.iops);
    const hi = Math.max(l.iops, o.iops);
    return {
      kind: 'both', legacy: l, offload: o, reclaimedCores, machineCpus,
      reclaimedPercentOfMachine: machineCpus > 0 ? (100 * reclaimedCores) / machineCpus : 0,
      reclaimedPercentOfLegacy: l.ioVirtCores > 0 ? (100 * reclaimedCores) / l.ioVirtCores : 0,
      comparableLoad: hi === 0 || (lo > 0 && hi / lo <= COMPARABLE_LOAD),
    };
  }
  if (offload.length > 0) return { kind: 'offload-only', offload: costOf(offload), machineCpus };
  return { kind: 'legacy-only', legacy: costOf(legacy), machineCpus };
}

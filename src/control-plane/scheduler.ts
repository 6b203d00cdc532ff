// Placement: which host (card) runs each new instance. Policy: least-loaded — each instance goes to the host whose
// busier resource (vCPU or memory, as a fraction of capacity) would be lowest after placing it; ties go to the
// lower hostId. Spreading keeps one host's guests from starving each other on a laptop-sized emulator.

export interface HostLoad {
  hostId: string;
  capacity: { vcpus: number; memMiB: number };
  usage: { vcpus: number; memMiB: number };
}

export interface PlacementRequest {
  vcpus: number;
  memMiB: number;
}

function loadAfter(h: HostLoad, r: PlacementRequest): number {
  const cpu = h.capacity.vcpus > 0 ? (h.usage.vcpus + r.vcpus) / h.capacity.vcpus : Infinity;
  const mem = h.capacity.memMiB > 0 ? (h.usage.memMiB + r.memMiB) / h.capacity.memMiB : Infinity;
  return Math.max(cpu, mem);
}

function fits(h: HostLoad, r: PlacementRequest): boolean {
  return h.usage.vcpus + r.vcpus <= h.capacity.vcpus && h.usage.memMiB + r.memMiB <= h.capacity.memMiB;
}

/**
 * Place every request, or none: returns one hostId per request (same order), or null if any request does not fit.
 * Inputs are not modified; capacity taken by earlier requests of the batch is accounted for.
 */
export function placeAll(hosts: readonly HostLoad[], requests: readonly PlacementRequest[]): string[] | null {
  const sim = hosts.map((h) => ({ hostId: h.hostId, capacity: { ...h.capacity }, usage: { vcpus: h.usage.vcpus, memMiB: h.usage.memMiB } }));
  const out: string[] = [];
  for (const r of requests) {
    let best: (typeof sim)[number] | undefined;
    let bestLoad = Infinity;
    for (const h of sim) {
      if (!fits(h, r)) continue;
      const l = loadAfter(h, r);
      if (l < bestLoad || (l === bestLoad && best !== undefined && h.hostId < best.hostId)) {
        best = h;
        bestLoad = l;
      }
    }
    if (!best) return null;
    best.usage.vcpus += r.vcpus;
    best.usage.memMiB += r.memMiB;
    out.push(best.hostId);
  }
  return out;
}

/** Largest vCPU and memory any single host could still take, for error messages. */
export function largestFree(hosts: readonly HostLoad[]): { vcpus: number; memMiB: number } {
  let vcpus = 0;
  let memMiB = 0;
  for (const h of hosts) {
    vcpus = Math.max(vcpus, h.capacity.vcpus - h.usage.vcpus);
    memMiB = Math.max(memMiB, h.capacity.memMiB - h.usage.memMiB);
  }
  return { vcpus, memMiB };
}

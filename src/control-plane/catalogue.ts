// Instance-type catalogue, seeded from reference/nitro.md §6 (EC2 UG, mid-2023) plus small emulator-sized types.
// Figures are copied as the table gives them; where the table gives one number it is both baseline and maximum.

export interface NetworkPerformance {
  /** Sustained bandwidth, Gbit/s. */
  baselineGbps: number;
  /** Burst ("up to") bandwidth, Gbit/s; equal to the baseline for fixed-rate types. */
  peakGbps: number;
}

export interface EbsPerformance {
  baselineMbps: number;
  maxMbps: number;
  /** IOPS at 16 KiB I/O. */
  baselineIops: number;
  maxIops: number;
}

export interface InstanceType {
  name: string;
  vcpus: number;
  memMiB: number;
  /** Absent for emulator-only types (no real-world figure to quote). */
  network?: NetworkPerformance;
  ebs?: EbsPerformance;
  bareMetal: boolean;
  /** Where the figures come from. */
  source: 'nitro.md §6' | 'emulator';
}

const GiB = 1024;

function nitro(name: string, vcpus: number, memGiB: number, net: [number, number], ebs: [number, number, number, number]): InstanceType {
  return {
    name, vcpus, memMiB: Math.round(memGiB * GiB),
    network: { baselineGbps: net[0], peakGbps: net[1] },
    ebs: { baselineMbps: ebs[0], maxMbps: ebs[1], baselineIops: ebs[2], maxIops: ebs[3] },
    bareMetal: name.endsWith('.metal'),
    source: 'nitro.md §6',
  };
}

function emulator(name: string, vcpus: number, memMiB: number): InstanceType {
  return { name, vcpus, memMiB, bareMetal: false, source: 'emulator' };
}

/** Every type the control plane will launch, in catalogue order. */
export const INSTANCE_TYPES: readonly InstanceType[] = Object.freeze([
  // Emulator-friendly: a laptop can run dozens of these.
  emulator('emu.nano', 1, 128),
  emulator('emu.micro', 1, 256),
  emulator('emu.small', 2, 512),
  // reference/nitro.md §6 — [network baseline, peak] Gbps; [EBS base, max] Mbps; [EBS base, max] IOPS.
  nitro('m5.large', 2, 8, [0.75, 10], [650, 4750, 3600, 18750]),
  nitro('m5.xlarge', 4, 16, [1.25, 10], [1150, 4750, 6000, 18750]),
  nitro('m5.24xlarge', 96, 384, [25, 25], [19000, 19000, 80000, 80000]),
  nitro('m5.metal', 96, 384, [25, 25], [19000, 19000, 80000, 80000]),
  nitro('m6i.large', 2, 8, [0.781, 12.5], [650, 10000, 3600, 40000]),
  nitro('m6i.32xlarge', 128, 512, [50, 50], [40000, 40000, 160000, 160000]),
  nitro('c5.large', 2, 4, [0.75, 10], [650, 4750, 4000, 20000]),
  nitro('c5.xlarge', 4, 8, [1.25, 10], [1150, 4750, 6000, 20000]),
  nitro('c5.18xlarge', 72, 144, [25, 25], [19000, 19000, 80000, 80000]),
  nitro('c5.24xlarge', 96, 192, [25, 25], [19000, 19000, 80000, 80000]),
  nitro('c5n.large', 2, 5.25, [3.0, 25], [650, 4750, 4000, 20000]),
  nitro('c5n.9xlarge', 36, 96, [50, 50], [9500, 9500, 40000, 40000]),
  nitro('c5n.18xlarge', 72, 192, [100, 100], [19000, 19000, 80000, 80000]),
  nitro('c6gn.16xlarge', 64, 128, [100, 100], [38000, 38000, 160000, 160000]),
  nitro('r5.large', 2, 16, [0.75, 10], [650, 4750, 3600, 18750]),
  nitro('r5.24xlarge', 96, 768, [25, 25], [19000, 19000, 80000, 80000]),
]);

const byName = new Map(INSTANCE_TYPES.map((t) => [t.name, t]));

/** The type called `name`, or undefined. */
export function findInstanceType(name: string): InstanceType | undefined {
  return byName.get(name);
}

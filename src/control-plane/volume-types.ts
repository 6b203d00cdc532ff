// EBS volume types and their limits (EC2 User Guide, "Amazon EBS volume types", gp3 and io2 as of 2024):
//   gp3: 1–16384 GiB; 3000 IOPS and 125 MiB/s included; up to 16000 IOPS (≤ 500 per GiB) and 1000 MiB/s
//        (≤ 0.25 MiB/s per provisioned IOPS).
//   io2: 4–16384 GiB; IOPS required, 100–64000 (≤ 500 per GiB); throughput follows IOPS (256 KiB per I/O),
//        at most 4000 MiB/s, and cannot be set.
// Errors name the offending value, as EC2's InvalidParameterValue / InvalidParameterCombination do.
import { ApiError } from './errors.ts';

export const VOLUME_TYPES = ['gp3', 'io2'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

export const GP3 = { minGiB: 1, maxGiB: 16384, baseIops: 3000, maxIops: 16000, baseMiBps: 125, maxMiBps: 1000, iopsPerGiB: 500, mibpsPerIops: 0.25 } as const;
export const IO2 = { minGiB: 4, maxGiB: 16384, minIops: 100, maxIops: 64000, iopsPerGiB: 500, maxMiBps: 4000 } as const;

export interface VolumeSpecInput {
  sizeGiB?: number | undefined;
  volumeType?: string | undefined;
  iops?: number | undefined;
  throughput?: number | undefined;
}

export interface VolumeSpec {
  sizeGiB: number;
  volumeType: VolumeType;
  iops: number;
  /** MiB/s */
  throughput: number;
}

const bad = (msg: string): ApiError => new ApiError('InvalidParameterValue', msg);
const combo = (msg: string): ApiError => new ApiError('InvalidParameterCombination', msg);

function intIn(name: string, v: number, lo: number, hi: number, type: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw bad(`${name} ${v} is outside ${lo}–${hi} for ${type}`);
  return v;
}

/** Fill in defaults and check a volume's type, size, IOPS and throughput. `minGiB` is the snapshot's size, if any. */
export function normaliseVolumeSpec(input: VolumeSpecInput, minGiB = 0): VolumeSpec {
  const type = input.volumeType ?? 'gp3';
  if (!(VOLUME_TYPES as readonly string[]).includes(type)) throw bad(`volumeType ${JSON.stringify(type)} is not one of ${VOLUME_TYPES.join(', ')}`);
  const sizeGiB = input.sizeGiB ?? minGiB;
  if (sizeGiB === 0) throw new ApiError('MissingParameter', 'sizeGiB is required unless the volume is created from a snapshot');
  if (sizeGiB < minGiB) throw bad(`sizeGiB ${sizeGiB} is smaller than the snapshot (${minGiB} GiB)`);
  if (type === 'gp3') {
    intIn('sizeGiB', sizeGiB, GP3.minGiB, GP3.maxGiB, 'gp3');
    const iops = intIn('iops', input.iops ?? GP3.baseIops, GP3.baseIops, GP3.maxIops, 'gp3');
    if (iops > sizeGiB * GP3.iopsPerGiB && iops > GP3.baseIops) throw combo(`iops ${iops} exceeds ${GP3.iopsPerGiB} per GiB for a ${sizeGiB} GiB gp3 volume`);
    const throughput = intIn('throughput', input.throughput ?? GP3.baseMiBps, GP3.baseMiBps, GP3.maxMiBps, 'gp3');
    if (throughput > GP3.baseMiBps && throughput > iops * GP3.mibpsPerIops) {
      throw combo(`throughput ${throughput} MiB/s exceeds ${GP3.mibpsPerIops} MiB/s per provisioned IOPS (${iops} IOPS) for gp3`);
    }
    return { sizeGiB, volumeType: 'gp3', iops, throughput };
  }
  intIn('sizeGiB', sizeGiB, IO2.minGiB, IO2.maxGiB, 'io2');
  if (input.iops === undefined) throw new ApiError('MissingParameter', 'iops is required for io2 volumes');
  if (input.throughput !== undefined) throw combo('throughput cannot be set for io2 volumes (it follows the provisioned IOPS)');
  const iops = intIn('iops', input.iops, IO2.minIops, IO2.maxIops, 'io2');
  if (iops > sizeGiB * IO2.iopsPerGiB) throw combo(`iops ${iops} exceeds ${IO2.iopsPerGiB} per GiB for a ${sizeGiB} GiB io2 volume`);
  return { sizeGiB, volumeType: 'io2', iops, throughput: Math.min(IO2.maxMiBps, Math.floor(iops / 4)) };
}

// EBS volumes requested at launch: defaults and checks on device names (EC2 UG: data volumes at /dev/sd[f-p]).
import { ApiError } from './errors.ts';

export interface VolumeRequest {
  sizeGiB: number;
  deviceName?: string;
  deleteOnTermination?: boolean;
}

export interface NormalisedVolume {
  sizeGiB: number;
  deviceName: string;
  deleteOnTermination: boolean;
}

export const DEVICE_NAME_PATTERN = '^/dev/(sd[b-z]|xvd[b-z])$';
/** Names handed out, in order, to volumes that do not ask for one. */
export const DEFAULT_DEVICE_NAMES: readonly string[] = 'fghijklmnop'.split('').map((c) => `/dev/sd${c}`);
export const MAX_VOLUME_GIB = 16384;

const deviceRe = new RegExp(DEVICE_NAME_PATTERN);

/** Fill in device names and deleteOnTermination; reject bad or duplicate device names. */
export function normaliseVolumes(reqs: readonly VolumeRequest[]): NormalisedVolume[] {
  const taken = new Set<string>();
  for (const [i, v] of reqs.entries()) {
    if (!Number.isInteger(v.sizeGiB) || v.sizeGiB < 1 || v.sizeGiB > MAX_VOLUME_GIB) {
      throw new ApiError('InvalidParameterValue', `volumes[${i}].sizeGiB ${v.sizeGiB} is not an integer from 1 to ${MAX_VOLUME_GIB}`);
    }
    if (v.deviceName === undefined) continue;
    if (!deviceRe.test(v.deviceName)) {
      throw new ApiError('InvalidParameterValue', `volumes[${i}].deviceName ${JSON.stringify(v.deviceName)} is not /dev/sd[b-z] or /dev/xvd[b-z]`);
    }
    if (taken.has(v.deviceName)) {
      throw new ApiError('InvalidParameterValue', `volumes[${i}].deviceName ${JSON.stringify(v.deviceName)} is used twice`);
    }
    taken.add(v.deviceName);
  }
  const free = DEFAULT_DEVICE_NAMES.filter((d) => !taken.has(d));
  return reqs.map((v, i) => {
    const deviceName = v.deviceName ?? free.shift();
    if (deviceName === undefined) {
      throw new ApiError('InvalidParameterValue', `volumes[${i}] has no deviceName and all of ${DEFAULT_DEVICE_NAMES.join(', ')} are taken`);
    }
    return { sizeGiB: v.sizeGiB, deviceName, deleteOnTermination: v.deleteOnTermination ?? true };
  });
}

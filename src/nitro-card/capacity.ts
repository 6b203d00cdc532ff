// What a card advertises it can hold (GET /mgmt/v1/info → GET /v1/hosts): vCPUs and memory for instances. By default
// 48 vCPUs per host core and 8× the host's RAM — emulated guests mostly sleep and touch little of their RAM — and
// either figure can be set outright (`nitrolab card --vcpus N --mem-mib M`, `nitrolab up --card-vcpus N
// --card-mem-mib M`), e.g. to measure how many instances one host process holds (bench/launch.ts).
import { cpus, totalmem } from 'node:os';

export const VCPUS_PER_CORE = 48;
export const MEM_OVERCOMMIT = 8;
/** Bounds of the overrides (the control plane's scheduler works with any positive figures). */
export const MAX_CARD_VCPUS = 1 << 16;
export const MAX_CARD_MEM_MIB = 1 << 30;

export interface CardCapacity { vcpus: number; memMiB: number }

/** The default capacity of this machine, with either figure replaced where given. */
export function cardCapacity(override: Partial<CardCapacity> = {}): CardCapacity {
  return {
    vcpus: override.vcpus ?? cpus().length * VCPUS_PER_CORE,
    memMiB: override.memMiB ?? Math.floor(totalmem() / 1048576) * MEM_OVERCOMMIT,
  };
}

// The card capacity flags shared by `nitrolab card` (--vcpus, --mem-mib), `nitrolab host --embedded-card` and
// `nitrolab up` (--card-vcpus, --card-mem-mib): validated here, defaults in src/nitro-card/capacity.ts.
import { intFlag } from './args.ts';
import { cardCapacity, MAX_CARD_MEM_MIB, MAX_CARD_VCPUS, type CardCapacity } from '../nitro-card/capacity.ts';

/** `--vcpus N` / `--mem-mib M`: the capacity the card advertises instead of the default (src/nitro-card/capacity.ts). */
export function capacityFlags(vcpus: string | undefined, memMiB: string | undefined, prefix = ''): CardCapacity {
  return cardCapacity({
    ...(vcpus !== undefined ? { vcpus: intFlag(`${prefix}vcpus`, vcpus, 0, 1, MAX_CARD_VCPUS) } : {}),
    ...(memMiB !== undefined ? { memMiB: intFlag(`${prefix}mem-mib`, memMiB, 0, 1, MAX_CARD_MEM_MIB) } : {}),
  });
}

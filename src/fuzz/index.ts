// The fuzz targets by name (docs/reliability.md lists what each one drives and checks).
import type { FuzzTarget } from './types.ts';

export const TARGETS: Record<string, () => Promise<FuzzTarget>> = {
  link: async () => (await import('./targets/link.ts')).fuzzLink,
  nvme: async () => (await import('./targets/nvme.ts')).fuzzNvme,
  virtio: async () => (await import('./targets/virtio.ts')).fuzzVirtio,
  nbd: async () => (await import('./targets/nbd.ts')).fuzzNbd,
  geneve: async () => (await import('./targets/geneve.ts')).fuzzGeneve,
  rest: async () => (await import('./targets/rest.ts')).fuzzRest,
};

export type { Finding, FuzzResult, FuzzOptions } from './types.ts';

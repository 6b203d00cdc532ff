// Legacy mode's trap path between a pCPU worker (where the guest's vCPU runs) and the hypervisor thread (where the
// device models run), on a MessageChannel of its own per worker: a guest's access to a trapped function is a VM exit
// posted to the hypervisor, which runs the device model and replies (non-posted accesses) or not (posted MMIO
// writes); the device's MSI-X comes back as an interrupt the hypervisor injects.
export type ExitAccess = 'cfg-read' | 'cfg-write' | 'mmio-read' | 'mmio-write';

/** pCPU worker → hypervisor. `id` 0 = posted (no reply). `trapNs`: process.hrtime when the access trapped. */
export interface ExitMsg {
  type: 'exit';
  id: number;
  fn: number;
  access: ExitAccess;
  bar: number;
  off: number;
  size: 1 | 2 | 4;
  value: number;
  trapNs: bigint;
}

/** hypervisor → pCPU worker. */
export type ExitResume =
  | { type: 'resume'; id: number; value: number }
  | { type: 'inject'; fn: number; address: number; data: number };

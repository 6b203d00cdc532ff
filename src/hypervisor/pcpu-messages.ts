// Messages between the hypervisor (host process main thread) and its pCPU worker threads. The hypervisor only sets
// things up (memory, VF assignment, IOMMU windows, start/stop); I/O flows between a worker's guests and the card.
export type ToPcpu =
  | { type: 'create-vm'; id: number; vmId: string; mem: SharedArrayBuffer; userData: string; hostname: string; vcpus: number }
  /** `trapped`: legacy mode, the function's model runs in the hypervisor and its accesses are VM exits. */
  | { type: 'assign-vf'; id: number; vmId: string; fn: number; slot: number; trapped?: boolean }
  | { type: 'unassign-vf'; id: number; vmId: string; fn: number }
  | { type: 'iommu-map'; id: number; vmId: string; fn: number; iova: number; gpa: number; size: number; write: boolean }
  | { type: 'iommu-unmap'; id: number; vmId: string; fn: number; iova: number; size: number }
  | { type: 'start-vm'; id: number; vmId: string }
  | { type: 'stop-vm'; id: number; vmId: string; force: boolean; graceMs: number; reason: string }
  | { type: 'destroy-vm'; id: number; vmId: string }
  | { type: 'console-input'; id: number; vmId: string; data: string }
  | { type: 'stats'; id: number };

export type FromPcpu =
  | { type: 'ready'; index: number }
  | { type: 'reply'; id: number; ok: true; result?: unknown }
  | { type: 'reply'; id: number; ok: false; code: string; message: string }
  | { type: 'console'; vmId: string; data: string }
  | { type: 'vm-state'; vmId: string; state: 'booting' | 'running' | 'halted' | 'crashed'; reason: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string };

/** Requests without their correlation id, as the hypervisor issues them. */
export type PcpuRequest = ToPcpu extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

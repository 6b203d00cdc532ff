// The NVMe controller device: public surface for the card (EBS, instance store) and the hypervisor (legacy mode).
export { NvmeController, NvmeConfigError } from './nvme.ts';
export type { NvmeControllerOptions, NvmePersonality } from './nvme.ts';
export type { BlockBackend } from './backend.ts';
export { BackendError } from './backend.ts';
export { Namespace } from './namespace.ts';
export { IoStats, HealthCounters } from './metrics.ts';
export { NvmeRegs, Sqe, Cqe, AdminOpc, IoOpc, Fid, Lid, Cns, CC, CSTS, CAP, AQA, DOORBELL_BASE, BAR0_SIZE } from './regs.ts';
export { Sc, DNR, status16, statusName } from './status.ts';
export { IdCtrl, IdNs } from './identify.ts';
export { SmartLog, ErrorLogEntry, EbsStatsLog, EBS_STATS_MAGIC } from './log-pages.ts';

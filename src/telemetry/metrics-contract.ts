// The JSON contract of GET /v1/metrics, one record per host and its card: written by the card (nitro-card/
// telemetry.ts), checked and relayed by the control plane (control-plane/host-metrics.ts), drawn by the panel
// (panel/server/wire.ts). Extend, never rename. CPU figures are cores: CPU seconds per wall second.

export type HostMode = 'offload' | 'legacy';

export interface HostCpu { guest: number; hypervisor: number; deviceEmulation: number; fabric: number; total: number }
export interface CardCpu { nvme: number; net: number; mgmt: number; fabric: number; total: number }

export interface HostMetricsContract {
  hostId: string;
  mode: HostMode;
  link: string;
  cpu: { host: HostCpu; card: CardCpu };
  io: { iops: number; readMBps: number; writeMBps: number; pps: number; gbps: number };
  exitsPerSec: number;
  interruptsPerSec: number;
  queueDepth: number;
  latencyUs: { p50: number; p99: number };
  instances: number;
}

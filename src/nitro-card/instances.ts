// Instances as the card knows them: their state machine (EC2 names), the functions the card created for them, and
// their console. The control plane reads these through the management API; the card is the source of truth.
import { ConsoleBuffer } from './console-buffer.ts';
import type { EniConfig } from './vpc/eni.ts';
import { DEFAULT_METADATA_OPTIONS, mergeMetadataOptions, type MetadataOptions, type MetadataOptionsInput } from './vpc/imds-options.ts';

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

export interface VolumeSpec {
  volumeId: string; sizeBytes: number; deviceName: string;
  /** Provisioned IOPS and MiB/s (absent = gp3 baseline 3000 / 125; 0 = unlimited): ebs/throttle.ts. */
  iops?: number; throughputMiBps?: number;
  /** Delete the volume's data when the instance is terminated (EC2 DeleteOnTermination); absent = keep it. */
  deleteOnTermination?: boolean;
}

export interface LaunchRequest {
  instanceId: string;
  instanceType: string;
  vcpus: number;
  memMiB: number;
  userData: string;
  volumes: VolumeSpec[];
  /** The instance's ENI (a virtio-net function on the VPC data plane); absent = no network. */
  network?: Omit<EniConfig, 'instanceId'>;
  /** Extra teaching devices, placed after the ENI: 'edu' = the edu device (docs/labs/edu-device.md). */
  devices?: 'edu'[];
  /** IMDS settings (EC2 MetadataOptions); absent members take EC2's defaults (vpc/imds-options.ts). */
  metadataOptions?: MetadataOptionsInput;
  /** For IMDS and the identity document; absent = the card's defaults (vpc/imds-routes.ts). */
  imageId?: string;
  availabilityZone?: string;
  accountId?: string;
}

export interface CardFunctionInfo { fn: number; slot: number; kind: 'nvme-ebs' | 'nvme-instance-store' | 'virtio-net' | 'edu'; volumeId?: string }

export interface Transition { at: string; from: InstanceState | null; to: InstanceState; reason: string }

export class CardInstance {
  state: InstanceState = 'pending';
  stateReason = 'launch requested';
  launchedAt = new Date().toISOString();
  /** Called after every state change (the card journals the instance: instance-journal.ts). */
  onChange: ((inst: CardInstance) => void) | undefined;
  readonly functions: CardFunctionInfo[] = [];
  readonly console = new ConsoleBuffer();
  readonly transitions: Transition[] = [];
  /** Guest memory actually given to the VM (the emulator scales instance-type memory down). */
  guestMemBytes = 0;
  /** IMDS settings; changed by PUT /mgmt/v1/instances/:id/metadata-options (vpc/imds-routes.ts). */
  metadataOptions: MetadataOptions;

  constructor(readonly req: LaunchRequest) {
    this.metadataOptions = mergeMetadataOptions(DEFAULT_METADATA_OPTIONS, req.metadataOptions);
    this.transitions.push({ at: this.launchedAt, from: null, to: 'pending', reason: this.stateReason });
  }

  moveTo(to: InstanceState, reason: string): void {
    if (to === this.state) return;
    this.transitions.push({ at: new Date().toISOString(), from: this.state, to, reason });
    this.state = to;
    this.stateReason = reason;
    this.onChange?.(this);
  }

  view() {
    return {
      instanceId: this.req.instanceId,
      instanceType: this.req.instanceType,
      state: this.state,
      stateReason: this.stateReason,
      launchedAt: this.launchedAt,
      guestMemBytes: this.guestMemBytes,
      functions: this.functions,
      ...(this.req.network ? { network: { eniId: this.req.network.eniId, macAddress: this.req.network.macAddress, privateIp: this.req.network.privateIp } } : {}),
      metadataOptions: this.metadataOptions,
      transitions: this.transitions,
    };
  }
}

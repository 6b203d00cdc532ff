// The block layer: what a storage driver registers (nvme0n1…) and what dd, fio and lsblk use. Devices accept many
// concurrent requests (queue depth); a request larger than the device's transfer limit is split by the device.

export interface BlockDevice {
  readonly name: string;
  /** Current capacity (a namespace may be resized while the guest runs). */
  readonly sizeBytes: number;
  readonly lbaSize: number;
  readonly model: string;
  readonly serial: string;
  /** Largest single command the device issues; bigger requests are split. */
  readonly maxTransferBytes: number;
  /** How many requests can usefully be in flight at once. */
  readonly queueDepth: number;
  /** Read `count` blocks at `lba` into `buf` (at least count × lbaSize bytes). */
  read(lba: number, count: number, buf: Uint8Array): Promise<void>;
  /** Write `count` blocks from `buf`; `fua` = durable on completion. */
  write(lba: number, count: number, buf: Uint8Array, fua?: boolean): Promise<void>;
  /** Make completed writes durable. */
  flush(): Promise<void>;
  /** Deallocate (TRIM) `count` blocks at `lba`. */
  discard(lba: number, count: number): Promise<void>;
}

/** A failed block request, as the shell shows it ("blk_update_request: I/O error, dev nvme0n1, sector 8"). */
export class BlockIoError extends Error {
  readonly device: string;
  readonly op: 'read' | 'write' | 'flush' | 'discard';
  readonly lba: number;
  constructor(device: string, op: BlockIoError['op'], lba: number, cause: unknown) {
    super(`I/O error, dev ${device}, ${op} at lba ${lba}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BlockIoError';
    this.device = device;
    this.op = op;
    this.lba = lba;
  }
}

export type BlockEvent = { readonly kind: 'add' | 'remove' | 'resize'; readonly device: BlockDevice };

/** Check a request against the device; throws RangeError for a request no device could serve. */
export function checkRequest(dev: BlockDevice, lba: number, count: number, buf: Uint8Array | undefined): void {
  if (!Number.isSafeInteger(lba) || lba < 0 || !Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`${dev.name}: bad request lba ${lba} count ${count}`);
  }
  if ((lba + count) * dev.lbaSize > dev.sizeBytes) {
    throw new RangeError(`${dev.name}: lba ${lba}+${count} beyond end of device (${dev.sizeBytes / dev.lbaSize} blocks)`);
  }
  if (buf && buf.length < count * dev.lbaSize) {
    throw new RangeError(`${dev.name}: buffer of ${buf.length} bytes is smaller than ${count} blocks`);
  }
}

export class BlockLayer {
  private readonly devices = new Map<string, BlockDevice>();
  private readonly listeners: ((e: BlockEvent) => void)[] = [];

  add(dev: BlockDevice): void {
    if (this.devices.has(dev.name)) throw new Error(`block device ${dev.name} already registered`);
    this.devices.set(dev.name, dev);
    this.emit({ kind: 'add', device: dev });
  }

  remove(name: string): void {
    const dev = this.devices.get(name);
    if (!dev) return;
    this.devices.delete(name);
    this.emit({ kind: 'remove', device: dev });
  }

  resized(dev: BlockDevice): void {
    this.emit({ kind: 'resize', device: dev });
  }

  /** By name, with or without `/dev/`. */
  get(name: string): BlockDevice | undefined {
    return this.devices.get(name.startsWith('/dev/') ? name.slice(5) : name);
  }

  /** Sorted by name, numbers compared as numbers (nvme2n1 before nvme10n1). */
  list(): BlockDevice[] {
    return [...this.devices.values()].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  }

  onChange(fn: (e: BlockEvent) => void): void {
    this.listeners.push(fn);
  }

  private emit(e: BlockEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

// What the NVMe controller needs from the storage behind a namespace: a sparse file on the card (instance store,
// walking skeleton) or an NBD client to the block store (EBS). All offsets and lengths are in bytes.
export interface BlockBackend {
  /** Size of the volume in bytes (a multiple of the LBA size). */
  readonly sizeBytes: number;
  read(offset: number, dst: Uint8Array): Promise<void>;
  /** `fua`: the write is durable when the promise resolves. */
  write(offset: number, src: Uint8Array, fua: boolean): Promise<void>;
  /** Make every completed write durable. */
  flush(): Promise<void>;
  /** Deallocate (TRIM): later reads return zeros. */
  discard(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
  close(): Promise<void>;
}

/** A backend failure the controller maps to a media or internal-error status. */
export class BackendError extends Error {
  readonly kind: 'io' | 'range' | 'unavailable' | 'timeout';
  constructor(kind: BackendError['kind'], message: string) {
    super(message);
    this.name = 'BackendError';
    this.kind = kind;
  }
}

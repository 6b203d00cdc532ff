// The only door between the guest OS and the machine it runs on: the host emulator implements GuestPlatform over the
// emulated PCIe link (or in-process devices); the guest touches devices through nothing else.

/** MSI-X message address every guest programs (x86 local APIC window; the platform routes by `data`). */
export const MSI_ADDRESS = 0xfee0_0000;

export interface GuestPlatform {
  /** Guest RAM: guest-physical address 0 .. mem.length. DMA buffers live here. */
  readonly mem: Uint8Array;
  /** PCI config space of device `slot` on bus 0; an absent slot reads all ones (0xFF / 0xFFFF / 0xFFFFFFFF). */
  cfgRead(slot: number, off: number, size: 1 | 2 | 4): Promise<number>;
  cfgWrite(slot: number, off: number, size: 1 | 2 | 4, value: number): Promise<void>;
  /** A non-posted MMIO read of BAR `bar` of device `slot`. */
  mmioRead(slot: number, bar: number, off: number, size: 1 | 2 | 4): Promise<number>;
  /** A posted MMIO write (doorbells): returns at once, ordered with later MMIO accesses to the same device. */
  mmioWrite(slot: number, bar: number, off: number, size: 1 | 2 | 4, value: number): void;
  /** Optional: a posted 4-byte doorbell write that carries the `entries` (count × entrySize bytes, for queue slots
   *  `start`…) it announces, so the device need not DMA-read them (the link's DOORBELL_PUSH). Absent where the path
   *  to the device cannot carry it; a driver then uses mmioWrite. */
  mmioPush?(slot: number, bar: number, off: number, value: number, start: number, entrySize: number, entries: Uint8Array): void;
  /** An MSI arrived; `vector` is the MSI data the guest programmed. */
  onInterrupt(handler: (vector: number) => void): void;
  consoleWrite(text: string): void;
  onConsoleInput(handler: (text: string) => void): void;
  /** Monotonic guest time in nanoseconds. */
  nowNs(): bigint;
  sleep(ms: number): Promise<void>;
  /** Give the vCPU back to the scheduler (long loops call it so that other guests on the pCPU run). */
  yield(): Promise<void>;
  /** How many slots of bus 0 to scan (e.g. 32). */
  readonly slots: number;
  readonly userData: string;
  readonly hostname: string;
  /** Optional: a CPU-bound kernel for `cpu-bench`; returns a checksum so the work cannot be optimised away. */
  cpuWork?(iterations: number): number;
  /** Optional: the guest has shut down (after `poweroff`); the host may stop the instance. */
  powerOff?(): void;
  /** Optional: the link to the devices went down or came back (PCIe surprise removal / hot-add, like a pciehp
   *  Data Link Layer State Changed event): drivers stop waiting for completions and reset once it is back. */
  onLinkChange?(handler: (up: boolean) => void): void;
}

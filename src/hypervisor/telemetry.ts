// The host's side of CPU attribution and I/O counters, added to the hypervisor's MGMT 'stats' reply so the card can
// report them (the control plane never talks to a host). Categories, in CPU seconds since start:
//   guest             pCPU worker threads outside marked regions (the guests' own code)
//   hypervisor        main thread management work; on pCPU threads the VM-exit path (trap, resume, injection)
//   deviceEmulation   legacy mode: main thread device-model work (the rest of the main thread's time)
//   fabric            the emulated PCIe wires: link frames, socket/ring I/O, DMA-by-message serving
//   unowned           threads no ledger owns (libuv's pool doing file I/O, V8's GC helpers): process CPU from
//                     getrusage minus every owned thread's /proc CPU; the card's sampler decides whose it is
import type { LedgerSnapshot } from '../telemetry/cpu-ledger.ts';
import { threadLedger } from '../telemetry/cpu-ledger.ts';
import { processCpuSec, threadCpuSec } from '../telemetry/thread-cpu.ts';
import type { IoTotals } from '../telemetry/io-counters.ts';
import type { Transaction } from '../telemetry/io-trace.ts';
import type { LegacyDevices } from './legacy-devices.ts';

export interface HostCpuSec { guest: number; hypervisor: number; deviceEmulation: number; fabric: number; unowned: number }

export interface HostTelemetry {
  mode: 'offload' | 'legacy';
  atMs: number;
  /** CPU seconds per category, cumulative (differences between two readings are what counts). */
  cpuSec: HostCpuSec;
  /** The whole process (getrusage), and the card's thread when the card runs inside this process (link shm). */
  processSec: number;
  cardThreadSec: number | undefined;
  threads: { main: LedgerSnapshot; pcpus: LedgerSnapshot[] };
  exits: number;
  injections: number;
  /** MSI-X delivered to guests: over the link (offload) plus injected (legacy). */
  interrupts: number;
  /** Legacy mode: the I/O of the device models running here, and their sampled traces. */
  io: IoTotals | undefined;
  traces: Transaction[];
  /** Legacy mode: NET_FRAMEs of the hypervisor's virtio-net models to and from the card, and those dropped. */
  legacyFrames?: { out: number; in: number; dropped: number };
}

interface PcpuStats { cpu?: LedgerSnapshot; trap?: { exits: number; injections: number }; msi?: number }

const cat = (s: LedgerSnapshot, name: string): number => s.categories[name] ?? 0;

export function hostTelemetry(o: { mode: 'offload' | 'legacy'; legacy: LegacyDevices | undefined; cardTid: number | undefined }) {
  const main = threadLedger();
  // In legacy mode the main thread hosts the device models: what its exit dispatch and management do not mark is
  // device-model work (device code continuing after a DMA or a backend read returns).
  main.setDefault(o.mode === 'legacy' ? 'device-emulation' : 'hypervisor');
  return (pcpus: unknown[]): { telemetry: HostTelemetry } => {
    const m = main.settle();
    const ps = (pcpus as PcpuStats[]).map((p) => p.cpu).filter((c): c is LedgerSnapshot => c !== undefined);
    const cardThreadSec = o.cardTid !== undefined ? threadCpuSec(o.cardTid) : undefined;
    const processSec = processCpuSec();
    const owned = m.threadSec + ps.reduce((s, p) => s + p.threadSec, 0) + (cardThreadSec ?? 0);
    const sum = (name: string) => cat(m, name) + ps.reduce((s, p) => s + cat(p, name), 0);
    const trap = (pcpus as PcpuStats[]).reduce((s, p) => ({ exits: s.exits + (p.trap?.exits ?? 0), injections: s.injections + (p.trap?.injections ?? 0) }), { exits: 0, injections: 0 });
    const msi = (pcpus as PcpuStats[]).reduce((s, p) => s + (p.msi ?? 0), 0);
    return {
      telemetry: {
        mode: o.mode,
        atMs: Date.now(),
        cpuSec: {
          guest: sum('guest'), hypervisor: sum('hypervisor'), deviceEmulation: sum('device-emulation'), fabric: sum('fabric'),
          unowned: Math.max(0, processSec - owned),
        },
        processSec,
        cardThreadSec,
        threads: { main: m, pcpus: ps },
        exits: trap.exits,
        injections: trap.injections,
        interrupts: msi + trap.injections,
        io: o.legacy?.ioTotals(),
        traces: o.legacy?.tracer.transactions() ?? [],
        ...(o.legacy ? { legacyFrames: { out: o.legacy.counters.framesOut, in: o.legacy.counters.framesIn, dropped: o.legacy.counters.framesDropped } } : {}),
      },
    };
  };
}

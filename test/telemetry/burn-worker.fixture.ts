// Test fixture: a worker thread that burns `cpuSec` of its own CPU (as the kernel counts it, so a busy machine only
// makes it take longer) in its default category, and reports its ledger.
import { parentPort, workerData } from 'node:worker_threads';
import { threadLedger } from '../../src/telemetry/cpu-ledger.ts';
import { currentTid, threadCpuSec } from '../../src/telemetry/thread-cpu.ts';

const ledger = threadLedger();
ledger.setDefault((workerData as { category: string }).category);
const start = threadCpuSec() ?? 0;
const want = (workerData as { cpuSec: number }).cpuSec;
let x = 1;
while ((threadCpuSec() ?? Infinity) - start < want) for (let i = 0; i < 100_000; i++) x = (x * 1103515245 + 12345) | 0;
parentPort?.postMessage({ snap: ledger.settle(), tid: currentTid(), x });

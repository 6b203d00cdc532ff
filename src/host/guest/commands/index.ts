// Every shell command the guest ships, in one list.
import type { ShellCommand } from '../shell.ts';
import { basicCommands } from './basic.ts';
import { cpuBench } from './cpu-bench.ts';
import { ddCommand } from './dd.ts';
import { fileCommands } from './files.ts';
import { fio } from './fio.ts';
import { lsblk } from './lsblk.ts';
import { lspci } from './lspci.ts';
import { nvme } from './nvme.ts';
import { curl } from './curl.ts';
import { ip } from './ip.ts';
import { nc } from './nc.ts';
import { ping } from './ping.ts';
import { udpPerf } from './udp-perf.ts';
import { chaos } from './chaos.ts';
import { edu } from './edu.ts';
import { wvcheck } from './wvcheck.ts';

export const allCommands: readonly ShellCommand[] = [
  ...basicCommands, ...fileCommands, lspci, lsblk, nvme, ddCommand, fio, cpuBench,
  ip, ping, udpPerf, curl, nc, chaos, edu, wvcheck,
];

// EDU-*: the edu teaching device (docs/labs/edu-device.md): register reset values and RO masks, liveness, factorial,
// the DMA engine (checksum, copy, IOMMU windows, errors) and its MSI-X completions. A student's card in any language
// that implements the spec table passes these (examples/edu-card/ is one, in Python).
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { EDU_DMA_MAX, EduCmd, EduError, EduIdentity, EduInt, EduStatus, type EduRegName } from '../../devices/edu/regs.ts';
import { Command } from '../../devices/pcie/config-space.ts';
import type { SuiteContext } from '../context.ts';
import { EduHost } from '../edu-host.ts';
import { MSI_ADDRESS, MSI_DATA_BASE, OUTSIDE_WINDOW, WINDOW_BYTES } from '../guest.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';
import { pollUntil } from '../wait.ts';
import { sizeBars } from './pci-cfg.ts';

const SPEC = 'docs/labs/edu-device.md';
const hosts = new WeakMap<SuiteContext, EduHost>();

/** An EduHost on the first edu function (1D0F:ED00), reset and with Memory Space and Bus Master on. */
async function edu(ctx: SuiteContext): Promise<EduHost> {
  const f = ctx.functions.find((x) => x.vendorId === EduIdentity.VENDOR_ID && x.deviceId === EduIdentity.DEVICE_ID);
  if (f === undefined) throw new Skip('no edu function (1D0F:ED00) found (with --mgmt the launch asks for one)');
  let h = hosts.get(ctx);
  if (h === undefined) {
    h = await EduHost.attach(await ctx.io(), f.fn, ctx.timeoutMs);
    hosts.set(ctx, h);
  }
  return h.fresh();
}

/** Two PINGs: every frame the card sent before their replies (MSIX, DMA) has been handled. */
async function settle(h: EduHost): Promise<void> {
  await h.rc.ping();
  await h.rc.ping();
}

function fill(h: EduHost, at: number, len: number): Uint8Array {
  const data = randomBytes(len);
  h.mem.set(data, at);
  return data;
}

const errName = (code: number): string => Object.entries(EduError).find(([, v]) => v === code)?.[0] ?? `error ${code}`;

export const EDU_CASES = defineGroup('EDU', [
  { n: 1, level: 'M', clause: `${SPEC} §1 PCI identity, §2 ID`, title: 'the ID register reads 0xRRrr00ED with major 1 and BAR0 is a memory BAR of at least 4 KiB',
    async run(ctx) {
      const h = await edu(ctx);
      const id = await h.reg('ID');
      check((id & 0xffff) === 0x00ed, `ID ${hex(id, 8)} does not end in 00ED`);
      check(id >>> 24 === 1, `ID ${hex(id, 8)}: major ${id >>> 24}, expected 1`);
      const bar0 = (await sizeBars(h.rc, h.fn)).find((b) => b.index === 0);
      check(bar0 !== undefined && !bar0.io && bar0.size >= 0x1000, `BAR0 ${bar0 === undefined ? 'missing' : `${bar0.io ? 'I/O' : 'memory'} ${hex(bar0.size)} bytes`}`);
    } },
  { n: 2, level: 'M', clause: `${SPEC} §2 reset values; specs.md §1.2 FLR`, title: 'after a function reset every register reads its reset value and reserved offsets read 0',
    async run(ctx) {
      const h = await edu(ctx);
      h.write('LIVENESS', 0x1234);
      h.write('FACTORIAL', 5);
      h.write('INT_ENABLE', EduInt.SOFT);
      h.write('INT_RAISE', EduInt.SOFT);
      for (const r of ['DMA_SRC_LO', 'DMA_SRC_HI', 'DMA_DST_LO', 'DMA_DST_HI', 'DMA_LEN'] as const) h.write(r, 0x40);
      await h.fresh();
      const want: [EduRegName, number][] = [
        ['LIVENESS', 0xffff_ffff], ['FACTORIAL', 0], ['STATUS', 0], ['ERROR', 0], ['INT_STATUS', 0], ['INT_RAISE', 0],
        ['INT_ACK', 0], ['INT_ENABLE', 0], ['DMA_SRC_LO', 0], ['DMA_SRC_HI', 0], ['DMA_DST_LO', 0], ['DMA_DST_HI', 0],
        ['DMA_LEN', 0], ['DMA_CMD', 0], ['DMA_RESULT', 0],
      ];
      for (const [name, v] of want) {
        const got = await h.reg(name);
        check(got === v, `${name} reads ${hex(got, 8)} after reset, expected ${hex(v, 8)}`);
      }
      for (const off of [0x0c, 0x18, 0x30, 0x5c, 0x100, 0xffc]) {
        const got = await h.at(off);
        check(got === 0, `reserved offset ${hex(off, 3)} reads ${hex(got, 8)}`);
      }
    } },
  { n: 3, level: 'M', clause: `${SPEC} §2 access column (RO)`, title: 'writes to the read-only registers ID, STATUS, ERROR, INT_STATUS and DMA_RESULT are ignored',
    async run(ctx) {
      const h = await edu(ctx);
      h.write('FACTORIAL', 3); // INT_STATUS.FACT = 1, so INT_STATUS is not trivially 0
      for (const name of ['ID', 'STATUS', 'ERROR', 'INT_STATUS', 'DMA_RESULT'] as const) {
        const before = await h.reg(name);
        h.write(name, ~before >>> 0);
        const after = await h.reg(name);
        check(after === before, `${name} changed ${hex(before, 8)} → ${hex(after, 8)} on write`);
      }
    } },
  { n: 4, level: 'M', clause: `${SPEC} §2 LIVENESS`, title: 'LIVENESS reads the bitwise NOT of the last value written',
    async run(ctx) {
      const h = await edu(ctx);
      for (const v of [0, 1, 0x1234_5678, 0xffff_ffff, 0x8000_0000, 0x5a5a_a5a5]) {
        h.write('LIVENESS', v);
        const got = await h.reg('LIVENESS');
        check(got === (~v >>> 0), `wrote ${hex(v, 8)}, read ${hex(got, 8)}, expected ${hex(~v >>> 0, 8)}`);
      }
    } },
  { n: 5, level: 'M', clause: `${SPEC} §2 FACTORIAL (n! mod 2^32)`, title: 'FACTORIAL computes n! modulo 2^32, wrapping like a C uint32_t',
    async run(ctx) {
      const h = await edu(ctx);
      for (const [n, want] of [[0, 1], [1, 1], [5, 120], [10, 3628800], [12, 479001600], [13, 1932053504], [20, 2192834560], [34, 0]] as const) {
        h.write('FACTORIAL', n);
        await h.idle(`factorial ${n}`);
        const got = await h.reg('FACTORIAL');
        check(got === want, `${n}! reads ${got}, expected ${want}`);
      }
    } },
  { n: 6, level: 'M', clause: `${SPEC} §3 CHECKSUM; docs/link-protocol.md §4 DMA_READ`, title: 'CHECKSUM reads the buffer by DMA and DMA_RESULT is its CRC-32, for aligned and unaligned buffers',
    async run(ctx) {
      const h = await edu(ctx);
      for (const [at, len] of [[0x40000, 4096], [0x50003, 1000], [0x60000, EDU_DMA_MAX]] as const) {
        const data = fill(h, at, len);
        const o = await h.dma(EduCmd.CHECKSUM, { src: at, len }, `checksum ${len} at ${hex(at)}`);
        check(o.status === 0 && o.error === 0, `checksum ${len} at ${hex(at)}: STATUS ${hex(o.status)} ERROR ${errName(o.error)}`);
        check(o.result === crc32(data), `checksum ${len} at ${hex(at)}: DMA_RESULT ${hex(o.result, 8)}, CRC-32 is ${hex(crc32(data), 8)}`);
        check((o.intStatus & EduInt.DMA) !== 0, `INT_STATUS ${hex(o.intStatus)} lacks DMA after a completed command`);
      }
    } },
  { n: 7, level: 'M', clause: `${SPEC} §3 COPY; docs/link-protocol.md §4 DMA_WRITE`, title: 'COPY writes the source bytes to the destination and reports their CRC-32',
    async run(ctx) {
      const h = await edu(ctx);
      const data = fill(h, 0x70000, 3000);
      h.mem.fill(0, 0x78000, 0x78000 + 3100);
      const o = await h.dma(EduCmd.COPY, { src: 0x70000, dst: 0x78001, len: 3000 }, 'copy');
      check(o.status === 0 && o.error === 0, `STATUS ${hex(o.status)} ERROR ${errName(o.error)}`);
      check(Buffer.compare(h.mem.subarray(0x78001, 0x78001 + 3000), data) === 0, 'the destination does not hold the source bytes');
      check(h.mem[0x78000] === 0 && h.mem[0x78001 + 3000] === 0, 'bytes around the destination were written');
      check(o.result === crc32(data), `DMA_RESULT ${hex(o.result, 8)}, CRC-32 is ${hex(crc32(data), 8)}`);
    } },
  { n: 8, level: 'M', clause: `${SPEC} §3 errors (DMA_FAULT); docs/link-protocol.md §7.2 EFAULT`, title: 'a CHECKSUM of memory outside the IOMMU windows ends with STATUS.ERROR and DMA_FAULT, and the next command works',
    async run(ctx) {
      const h = await edu(ctx);
      const o = await h.dma(EduCmd.CHECKSUM, { src: OUTSIDE_WINDOW, len: 256 }, 'checksum outside the window');
      check((o.status & EduStatus.ERROR) !== 0, `STATUS ${hex(o.status)} lacks ERROR after a DMA outside the windows`);
      check(o.error === EduError.DMA_FAULT, `ERROR is ${errName(o.error)}, expected DMA_FAULT`);
      const data = fill(h, 0x40000, 512);
      const ok = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len: 512 }, 'checksum after the fault');
      check(ok.status === 0 && ok.error === 0 && ok.result === crc32(data), `the next command: STATUS ${hex(ok.status)} ERROR ${errName(ok.error)} RESULT ${hex(ok.result, 8)}`);
    } },
  { n: 9, level: 'O', clause: `${SPEC} §3 errors (DMA_FAULT); docs/link-protocol.md §7.2`, title: 'a COPY to memory outside the IOMMU windows leaves it untouched and reports DMA_FAULT',
    async run(ctx) {
      const h = await edu(ctx);
      fill(h, 0x40000, 256);
      const before = h.outsideSnapshot();
      const o = await h.dma(EduCmd.COPY, { src: 0x40000, dst: WINDOW_BYTES + 0x1000, len: 256 }, 'copy outside the window');
      await settle(h);
      check(Buffer.compare(h.outsideSnapshot(), before) === 0, 'memory outside the windows changed');
      check(o.error === EduError.DMA_FAULT && (o.status & EduStatus.ERROR) !== 0, `STATUS ${hex(o.status)} ERROR ${errName(o.error)}, expected DMA_FAULT`);
    } },
  { n: 10, level: 'M', clause: `${SPEC} §4 interrupts; specs.md §1.5 MSI-X delivery rules 1 and 3`, title: 'a completed DMA with INT_ENABLE.DMA sends one MSI-X message with the programmed address and data; INT_ACK clears it',
    async run(ctx) {
      const h = await edu(ctx);
      const l = await h.msixLayout();
      check(l !== undefined, 'no MSI-X capability');
      h.programVector(l, 0, false);
      await h.setMsixControl(l, true, false);
      h.write('INT_ENABLE', EduInt.DMA);
      h.msis.length = 0;
      const o = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len: 64 }, 'checksum');
      check(o.error === 0, `ERROR ${errName(o.error)}`);
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'no MSI-X message after the DMA completed');
      await settle(h);
      const m = h.msis[0];
      check(h.msis.length === 1, `${h.msis.length} messages for one completion`);
      check(m !== undefined && m.address === MSI_ADDRESS && m.data === MSI_DATA_BASE, `message ${hex(m?.address ?? 0)} ← ${hex(m?.data ?? 0)}, programmed ${hex(MSI_ADDRESS)} ← ${hex(MSI_DATA_BASE)}`);
      h.write('INT_ACK', EduInt.DMA);
      const st = await h.reg('INT_STATUS');
      check((st & EduInt.DMA) === 0, `INT_STATUS ${hex(st)} after INT_ACK of DMA`);
    } },
  { n: 11, level: 'M', clause: `${SPEC} §4 interrupts; specs.md §1.5 MSI-X delivery rule 2 (PBA)`, title: 'a completion on a masked vector sets its PBA bit and sends nothing; unmasking delivers it',
    async run(ctx) {
      const h = await edu(ctx);
      const l = await h.msixLayout();
      check(l !== undefined, 'no MSI-X capability');
      h.programVector(l, 0, true);
      await h.setMsixControl(l, true, false);
      h.write('INT_ENABLE', EduInt.FACT);
      h.write('FACTORIAL', 4);
      await h.idle('factorial');
      await settle(h);
      check(h.msis.length === 0, 'a masked vector delivered a message');
      check(await h.pbaBit(l, 0), 'PBA bit 0 is not set after an event on masked vector 0');
      h.setVectorMask(l, 0, false);
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'unmasking the pending vector delivered nothing');
      check(!(await h.pbaBit(l, 0)), 'PBA bit 0 still set after delivery');
    } },
  { n: 12, level: 'M', clause: `${SPEC} §3 errors (BAD_COMMAND)`, title: 'an unknown DMA_CMD ends with STATUS.ERROR and BAD_COMMAND, and the device keeps working',
    async run(ctx) {
      const h = await edu(ctx);
      const o = await h.dma(0x7, { src: 0x40000, len: 64 }, 'command 7');
      check((o.status & EduStatus.ERROR) !== 0 && o.error === EduError.BAD_COMMAND, `command 7: STATUS ${hex(o.status)} ERROR ${errName(o.error)}`);
      check((o.intStatus & EduInt.ERROR) !== 0, `INT_STATUS ${hex(o.intStatus)} lacks ERROR`);
      const data = fill(h, 0x40000, 64);
      const ok = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len: 64 }, 'checksum after a bad command');
      check(ok.status === 0 && ok.error === 0 && ok.result === crc32(data), `the next command: STATUS ${hex(ok.status)} ERROR ${errName(ok.error)}`);
    } },
  { n: 13, level: 'M', clause: `${SPEC} §4 INT_RAISE / INT_ACK`, title: 'INT_RAISE sets INT_STATUS bits, INT_ACK clears them, and both read 0',
    async run(ctx) {
      const h = await edu(ctx);
      h.write('INT_RAISE', EduInt.SOFT);
      check(((await h.reg('INT_STATUS')) & EduInt.SOFT) !== 0, 'INT_RAISE of SOFT did not set INT_STATUS.SOFT');
      check((await h.reg('INT_RAISE')) === 0 && (await h.reg('INT_ACK')) === 0, 'INT_RAISE or INT_ACK does not read 0');
      h.write('INT_ACK', EduInt.SOFT);
      const st = await h.reg('INT_STATUS');
      check((st & EduInt.SOFT) === 0, `INT_STATUS ${hex(st)} after INT_ACK of SOFT`);
    } },
  { n: 14, level: 'M', clause: `${SPEC} §3 errors (BAD_LENGTH)`, title: `DMA_LEN 0 or above ${EDU_DMA_MAX} ends with BAD_LENGTH`,
    async run(ctx) {
      const h = await edu(ctx);
      for (const len of [0, EDU_DMA_MAX + 1]) {
        const o = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len }, `length ${len}`);
        check((o.status & EduStatus.ERROR) !== 0 && o.error === EduError.BAD_LENGTH, `length ${len}: STATUS ${hex(o.status)} ERROR ${errName(o.error)}`);
      }
    } },
  { n: 15, level: 'O', clause: `${SPEC} §4 INT_ENABLE`, title: 'with INT_ENABLE 0 a completion sets INT_STATUS but sends no message',
    async run(ctx) {
      const h = await edu(ctx);
      const l = await h.msixLayout();
      check(l !== undefined, 'no MSI-X capability');
      h.programVector(l, 0, false);
      await h.setMsixControl(l, true, false);
      const o = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len: 64 }, 'checksum');
      await settle(h);
      check((o.intStatus & EduInt.DMA) !== 0, `INT_STATUS ${hex(o.intStatus)} lacks DMA`);
      check(h.msis.length === 0, `${h.msis.length} message(s) with INT_ENABLE 0`);
    } },
  { n: 16, level: 'O', clause: `${SPEC} §3 errors (NO_BUS_MASTER); specs.md §1.2 Bus Master`, title: 'with Bus Master off a DMA command ends with NO_BUS_MASTER',
    async run(ctx) {
      const h = await edu(ctx);
      await h.setCommand(Command.MEMORY_SPACE);
      const o = await h.dma(EduCmd.CHECKSUM, { src: 0x40000, len: 64 }, 'checksum with Bus Master off');
      await h.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
      check((o.status & EduStatus.ERROR) !== 0 && o.error === EduError.NO_BUS_MASTER, `STATUS ${hex(o.status)} ERROR ${errName(o.error)}`);
    } },
]);

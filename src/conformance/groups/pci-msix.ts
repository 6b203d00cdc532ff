// PCI-MSIX-*: MSI-X capability, table and PBA placement, reset values, masking, pending bits and Bus Master gating
// (specs.md §1.5). Events come from an NVMe admin completion (the admin CQ always uses vector 0, specs.md §2.1).
import { AdminOpc, Cns } from '../../devices/nvme/regs.ts';
import { Command } from '../../devices/pcie/config-space.ts';
import { MsixControl } from '../../devices/pcie/capabilities.ts';
import { MsixTableEntry } from '../../devices/pcie/msix.ts';
import type { SuiteContext } from '../context.ts';
import { Gm, MSI_ADDRESS, MSI_DATA_BASE } from '../guest.ts';
import type { MsixLayout, NvmeHost } from '../nvme-host.ts';
import { pollUntil } from '../wait.ts';
import { check, defineGroup, hex } from '../types.ts';
import { sizeBars } from './pci-cfg.ts';

const S15 = 'specs.md §1.5 MSI-X';

async function layout(ctx: SuiteContext): Promise<{ h: NvmeHost; l: MsixLayout }> {
  const h = await ctx.nvme();
  const l = await h.msixLayout();
  check(l !== undefined, 'no MSI-X capability');
  return { h, l };
}

/** Reset the function, enable the controller and MSI-X with vector 0 programmed (masked or not). */
async function armed(ctx: SuiteContext, masked: boolean): Promise<{ h: NvmeHost; l: MsixLayout }> {
  const { h, l } = await layout(ctx);
  await h.rc.reset(h.fn);
  await h.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
  await h.init();
  h.programVector(l, 0, masked);
  await h.setMsixControl(l, true, false);
  h.msis.length = 0;
  return { h, l };
}

const identify = (h: NvmeHost) => h.admin({ opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER });

async function settle(h: NvmeHost): Promise<void> {
  await h.rc.ping(); // frames the card sent before this reply have been handled
  await h.rc.ping();
}

export const PCI_MSIX_CASES = defineGroup('PCI-MSIX', [
  { n: 1, level: 'M', clause: `${S15} Message Control Table Size`, title: 'Table Size is 1..2048 and the table fits inside its BAR',
    async run(ctx) {
      const { h, l } = await layout(ctx);
      check(l.size >= 1 && l.size <= 2048, `table size ${l.size}`);
      const bar = (await sizeBars(h.rc, h.fn)).find((b) => b.index === l.tableBar);
      check(bar !== undefined, `table BIR ${l.tableBar} is not an implemented BAR`);
      check(l.tableOff + 16 * l.size <= bar.size, `table of ${l.size} entries at ${hex(l.tableOff)} ends beyond BAR${bar.index} (${hex(bar.size)} bytes)`);
    } },
  { n: 2, level: 'M', clause: `${S15} Table/PBA Offset and BIR`, title: 'table and PBA name implemented memory BARs, are QWORD aligned, fit, and do not overlap',
    async run(ctx) {
      const { h, l } = await layout(ctx);
      const bars = await sizeBars(h.rc, h.fn);
      const tb = bars.find((b) => b.index === l.tableBar);
      const pb = bars.find((b) => b.index === l.pbaBar);
      check(tb !== undefined && !tb.io, `table BIR ${l.tableBar} is not a memory BAR`);
      check(pb !== undefined && !pb.io, `PBA BIR ${l.pbaBar} is not a memory BAR`);
      check(l.tableOff % 8 === 0 && l.pbaOff % 8 === 0, 'offsets not QWORD aligned');
      const pbaBytes = Math.ceil(l.size / 64) * 8;
      check(l.pbaOff + pbaBytes <= pb.size, `PBA at ${hex(l.pbaOff)} ends beyond BAR${pb.index}`);
      check(l.tableOff + 16 * l.size <= tb.size, `table ends beyond BAR${tb.index}`);
      if (l.tableBar === l.pbaBar) {
        const overlap = l.tableOff < l.pbaOff + pbaBytes && l.pbaOff < l.tableOff + 16 * l.size;
        check(!overlap, `table [${hex(l.tableOff)}, +${16 * l.size}) overlaps PBA [${hex(l.pbaOff)}, +${pbaBytes})`);
      }
    } },
  { n: 3, level: 'O', clause: `${S15} rule 6 (own 4 KiB pages)`, title: 'table and PBA start on 4 KiB boundaries',
    async run(ctx) {
      const { l } = await layout(ctx);
      check(l.tableOff % 4096 === 0 && l.pbaOff % 4096 === 0, `table ${hex(l.tableOff)} PBA ${hex(l.pbaOff)}`);
    } },
  { n: 4, level: 'M', clause: `${S15} Vector Control resets to 1`, title: 'after a function reset every vector reads masked',
    async run(ctx) {
      const { h, l } = await layout(ctx);
      await h.rc.reset(h.fn);
      await h.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
      for (let n = 0; n < l.size; n++) {
        const vc = await h.rc.barRead(h.fn, l.tableBar, l.tableOff + n * 16 + MsixTableEntry.offset.vectorControl, 4);
        check((vc & 1) === 1, `vector ${n} Vector Control ${hex(vc)} is unmasked after reset`);
      }
    } },
  { n: 5, level: 'M', clause: `${S15} Message Control reset`, title: 'after a function reset MSI-X Enable and Function Mask are 0',
    async run(ctx) {
      const { h, l } = await layout(ctx);
      await h.setMsixControl(l, true, true);
      await h.rc.reset(h.fn);
      const ctl = await h.rc.configRead(h.fn, l.capOff + 2, 2);
      check((ctl & (MsixControl.ENABLE | MsixControl.FUNCTION_MASK)) === 0, `Message Control ${hex(ctl, 4)} after reset`);
    } },
  { n: 6, level: 'M', clause: `${S15} delivery rules 1 and 3`, title: 'an unmasked vector delivers one message with the programmed address and data',
    async run(ctx) {
      const { h } = await armed(ctx, false);
      await h.expectOk(await identify(h), 'Identify');
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'no MSI-X message after the admin completion');
      const m = h.msis[0];
      check(m !== undefined && m.address === MSI_ADDRESS && m.data === MSI_DATA_BASE, `message ${hex(m?.address ?? 0)} ← ${hex(m?.data ?? 0)}, programmed ${hex(MSI_ADDRESS)} ← ${hex(MSI_DATA_BASE)}`);
    } },
  { n: 7, level: 'M', clause: `${S15} delivery rule 2 (PBA)`, title: 'an event on a masked vector sets its PBA bit; unmasking delivers it and clears the bit',
    async run(ctx) {
      const { h, l } = await armed(ctx, true);
      await h.expectOk(await identify(h), 'Identify');
      await settle(h);
      check(h.msis.length === 0, 'a masked vector delivered a message');
      check(await h.pbaBit(l, 0), 'PBA bit 0 is not set after an event on masked vector 0');
      h.setVectorMask(l, 0, false);
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'unmasking a pending vector delivered nothing');
      check(!(await h.pbaBit(l, 0)), 'PBA bit 0 still set after delivery');
    } },
  { n: 8, level: 'M', clause: `${S15} rule 1; specs.md §1.2 Bus Master`, title: 'with Bus Master off the function sends no MSI-X message',
    async run(ctx) {
      const { h } = await armed(ctx, false);
      await h.setCommand(Command.MEMORY_SPACE);
      h.place(0, { opc: AdminOpc.IDENTIFY, prp1: Gm.BUF, cdw10: Cns.CONTROLLER });
      h.ring(0);
      await h.reap(0, ctx.timeoutMs);
      await settle(h);
      const n = h.msis.length;
      await h.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
      check(n === 0, `${n} MSI-X message(s) with Bus Master off`);
    } },
  { n: 9, level: 'O', clause: `${S15} Function Mask`, title: 'with Function Mask set an event pends; clearing Function Mask delivers it',
    async run(ctx) {
      const { h, l } = await armed(ctx, false);
      await h.setMsixControl(l, true, true);
      await h.expectOk(await identify(h), 'Identify');
      await settle(h);
      check(h.msis.length === 0, 'a message was sent while Function Mask was set');
      await h.setMsixControl(l, true, false);
      check(await pollUntil(() => h.msis.length > 0, ctx.timeoutMs), 'clearing Function Mask delivered nothing');
    } },
  { n: 10, level: 'O', clause: `${S15} PBA is RO`, title: 'writes to the PBA are ignored',
    async run(ctx) {
      const { h, l } = await layout(ctx);
      await h.rc.reset(h.fn);
      await h.setCommand(Command.MEMORY_SPACE | Command.BUS_MASTER);
      h.rc.barWrite(h.fn, l.pbaBar, l.pbaOff, 4, 0xffff_ffff);
      const v = await h.rc.barRead(h.fn, l.pbaBar, l.pbaOff, 4);
      check(v === 0, `PBA reads ${hex(v)} after writing all ones`);
    } },
]);

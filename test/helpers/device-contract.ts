// The shared device contract (STYLE.md "Tests"): every PCI device model, wrapped in a PciFunction, must show spec reset
// values, read 0 at unknown offsets, accept every access size, size its BARs and survive a seeded random register storm.
import type { Test } from 'tap';
import type { DeviceContext, PciDeviceModel } from '../../src/devices/contract.ts';
import { PciFunction } from '../../src/devices/pcie/pci-function.ts';
import { barRegOffset, Command, Status, Type0Header } from '../../src/devices/pcie/config-space.ts';
import {
  CapId, Express, ExpressCap, MsixCap, MsixControl, PmCap, DsnExtCap, walkCapabilities, walkExtendedCapabilities,
} from '../../src/devices/pcie/capabilities.ts';
import { msixPages } from '../../src/devices/pcie/msix.ts';
import { FakeHost } from './fake-host.ts';

export type MakeModel = (ctx: DeviceContext) => PciDeviceModel;

export interface DeviceContractOptions {
  /** BAR offsets the device leaves unimplemented; each must read 0 (MSI-X page padding is always checked). */
  unknownBarOffsets?: readonly { bar: number; offset: number }[];
  /** Seed and length of the random register smoke test. */
  seed?: number;
  iterations?: number;
}

/** A device wired to a PciFunction on a fake host, MSI-X messages captured. */
export interface ContractRig {
  host: FakeHost;
  fn: PciFunction;
  model: PciDeviceModel;
  msis: { address: number; data: number; vector: number }[];
}

export function buildRig(makeModel: MakeModel): ContractRig {
  const host = new FakeHost(1 << 20);
  const msis: ContractRig['msis'] = [];
  const fn = new PciFunction({
    sendMsi: (address, data, vector) => msis.push({ address, data, vector }),
    log: host.log,
    metrics: host.metrics,
  });
  const model = makeModel({ ...host.context(), irq: fn.irq });
  fn.attach(model);
  return { host, fn, model, msis };
}

const H = Type0Header.offset;
const PAGE = 4096;

/** Deterministic PRNG (mulberry32), so a failing smoke run can be replayed from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** Config bytes that belong to some capability (standard or extended), from the model's own declarations. */
function capabilityBytes(rig: ContractRig): Set<number> {
  const covered = new Set<number>();
  const caps = rig.fn.capabilities;
  if (!caps) return covered;
  const add = (at: number, len: number): void => { for (let i = 0; i < len; i++) covered.add(at + i); };
  add(caps.pm, PmCap.size);
  add(caps.express, ExpressCap.size);
  if (caps.msix !== null) add(caps.msix, MsixCap.size);
  caps.extra.forEach((at, i) => add(at, rig.model.extraCapabilities?.[i]?.length ?? 0));
  if (caps.dsn !== null) add(caps.dsn, DsnExtCap.size);
  return covered;
}

export async function runDeviceContract(t: Test, makeModel: MakeModel, opts: DeviceContractOptions = {}): Promise<void> {
  await t.test('config header reads its reset values', async (t) => {
    const { fn, model } = buildRig(makeModel);
    const id = model.identity;
    t.equal(fn.configRead(H.vendorId, 2), id.vendorId, 'Vendor ID');
    t.equal(fn.configRead(H.deviceId, 2), id.deviceId, 'Device ID');
    t.equal(fn.configRead(H.command, 2), 0, 'Command is 0');
    t.equal(fn.configRead(H.status, 2), Status.CAP_LIST, 'Status has only Capabilities List set');
    t.equal(fn.configRead(H.revisionId, 4) >>> 8, id.classCode, 'class code');
    t.equal(fn.configRead(H.revisionId, 1), id.revisionId, 'Revision ID');
    t.equal(fn.configRead(H.headerType, 1), 0, 'Header Type 0, single function');
    t.equal(fn.configRead(H.bist, 1), 0, 'BIST not supported');
    t.equal(fn.configRead(H.subsystemVendorId, 2), id.subsystemVendorId, 'Subsystem Vendor ID');
    t.equal(fn.configRead(H.subsystemId, 2), id.subsystemId, 'Subsystem ID');
    t.equal(fn.configRead(H.expansionRom, 4), 0, 'no Expansion ROM');
    t.equal(fn.configRead(H.capabilitiesPtr, 1), 0x40, 'Capabilities Pointer 0x40');
    t.ok(fn.configRead(H.interruptPin, 1) <= 1, 'Interrupt Pin 0 or 1');
    const declared = new Map<number, number>();
    for (const b of model.bars) {
      declared.set(b.index, (b.is64 ? 0b100 : 0) | (b.prefetchable ? 0b1000 : 0));
      if (b.is64) declared.set(b.index + 1, 0);
    }
    for (let n = 0; n < 6; n++) t.equal(fn.configRead(barRegOffset(n), 4), declared.get(n) ?? 0, `BAR${n} reset value`);

    const found = walkCapabilities((o) => fn.configRead(o, 1));
    const ids = found.map((c) => c.id);
    t.ok(ids.includes(CapId.POWER_MANAGEMENT), 'Power Management capability present');
    const exp = found.find((c) => c.id === CapId.PCI_EXPRESS);
    t.ok(exp, 'PCI Express capability present');
    if (exp) {
      t.equal(fn.configRead(exp.offset + ExpressCap.offset.pcieCap, 2) & 0xff, 0x02, 'Express v2 endpoint');
      t.ok(fn.configRead(exp.offset + ExpressCap.offset.devCap, 4) & Express.DEVCAP_FLR, 'FLR capable');
    }
    const msix = found.find((c) => c.id === CapId.MSIX);
    if (model.msixVectors > 0) {
      t.ok(msix, 'MSI-X capability present');
      if (msix) {
        t.equal(fn.configRead(msix.offset + MsixCap.offset.messageControl, 2), model.msixVectors - 1, 'MSI-X table size N-1, disabled');
        t.equal(fn.configRead(msix.offset + MsixCap.offset.tableOffsetBir, 4), model.msixTableOffset | model.msixBar, 'table offset/BIR');
      }
    }
    t.equal(found.length, 2 + (model.msixVectors > 0 ? 1 : 0) + (model.extraCapabilities?.length ?? 0), 'capability count');
    (model.extraCapabilities ?? []).forEach((cap, i) => {
      const at = fn.capabilities?.extra[i] ?? 0;
      const got = Array.from(cap, (_, k) => (k === 1 ? cap[1] : fn.configRead(at + k, 1)));
      t.same(got, Array.from(cap), `extra capability ${i} (ID 0x${(cap[0] ?? 0).toString(16)}) is chained in verbatim`);
    });
  });

  await t.test('reserved and unknown config offsets read 0 and ignore writes', async (t) => {
    const rig = buildRig(makeModel);
    const { fn } = rig;
    const covered = capabilityBytes(rig);
    // CardBus CIS, Expansion ROM, 0x38–0x3B reserved, and every dword no capability covers.
    const reserved = [H.cardbusCis, H.expansionRom, H.rsvd35 + 3];
    for (let at = 0x40; at < 0x1000; at += 4) {
      if (![0, 1, 2, 3].some((i) => covered.has(at + i))) reserved.push(at);
    }
    let bad = 0;
    for (const at of reserved) {
      fn.configWrite(at, 4, 0xffff_ffff);
      if (fn.configRead(at, 4) !== 0) bad++;
    }
    t.equal(bad, 0, `all ${reserved.length} reserved/unknown dwords read 0 after writing all-ones`);
    for (let at = H.rsvd35; at < H.rsvd35 + 3; at++) {
      fn.configWrite(at, 1, 0xff);
      t.equal(fn.configRead(at, 1), 0, `reserved byte 0x${at.toString(16)} reads 0`);
    }
    if (rig.fn.capabilities?.dsn === null) t.equal(fn.configRead(0x100, 4), 0, 'extended capability header at 0x100 reads 0');
    t.same(walkExtendedCapabilities((o) => fn.configRead(o, 4)).length <= 1, true, 'extended list terminates');
  });

  await t.test('unknown BAR offsets read 0', async (t) => {
    const { fn, model } = buildRig(makeModel);
    fn.configWrite(H.command, 2, Command.MEMORY_SPACE);
    const probes = [...(opts.unknownBarOffsets ?? [])];
    if (model.msixVectors > 0) {
      const p = msixPages(model.msixVectors);
      const pba = model.msixTableOffset + p.tablePages * PAGE;
      if (p.tableBytes % PAGE !== 0) probes.push({ bar: model.msixBar, offset: model.msixTableOffset + p.tablePages * PAGE - 4 });
      probes.push({ bar: model.msixBar, offset: pba + p.pbaPages * PAGE - 4 });
    }
    for (const { bar, offset } of probes) t.equal(fn.barRead(bar, offset, 4), 0, `BAR${bar}+0x${offset.toString(16)} reads 0`);
  });

  await t.test('every access size is accepted, and narrow config reads agree with wide ones', async (t) => {
    const { fn, model, host } = buildRig(makeModel);
    let mismatches = 0;
    for (let at = 0; at < 0x1000; at += 4) {
      const d = fn.configRead(at, 4);
      const bytes = [0, 1, 2, 3].map((i) => fn.configRead(at + i, 1));
      const words = [0, 2].map((i) => fn.configRead(at + i, 2));
      if (bytes.some((b, i) => b !== ((d >>> (8 * i)) & 0xff)) || words.some((w, i) => w !== ((d >>> (16 * i)) & 0xffff))) mismatches++;
    }
    t.equal(mismatches, 0, 'byte and word config reads compose the dword');
    fn.configWrite(H.command, 2, Command.MEMORY_SPACE);
    for (const b of model.bars) {
      for (const offset of [0, b.size - 4]) {
        for (const size of [1, 2, 4] as const) {
          const v = fn.barRead(b.index, offset, size);
          t.ok(v >= 0 && v < 2 ** (8 * size), `BAR${b.index}+0x${offset.toString(16)} size ${size} reads a ${size}-byte value`);
        }
      }
    }
    const before = host.counters.get('pci_config_bad_access_total') ?? 0;
    t.equal(fn.configRead(1, 4), 0xffff_ffff, 'misaligned config read answers all-ones');
    t.equal(fn.configRead(0, 3), 0xffff_ffff, 'size-3 config read answers all-ones');
    t.equal(fn.configRead(0x1000, 4), 0xffff_ffff, 'config read past 4 KiB answers all-ones');
    fn.configWrite(2, 4, 0);
    t.equal(host.counters.get('pci_config_bad_access_total'), before + 4, 'each bad config access is counted');
    t.equal(fn.configRead(H.vendorId, 2), model.identity.vendorId, 'bad write changed nothing');
  });

  await t.test('every declared BAR sizes and restores', async (t) => {
    const { fn, model } = buildRig(makeModel);
    for (const b of model.bars) {
      const lo = barRegOffset(b.index);
      const hi = lo + 4;
      const type = (b.is64 ? 0b100 : 0) | (b.prefetchable ? 0b1000 : 0);
      fn.configWrite(lo, 4, 0xffff_ffff);
      if (b.is64) fn.configWrite(hi, 4, 0xffff_ffff);
      const readLo = fn.configRead(lo, 4);
      const readHi = b.is64 ? fn.configRead(hi, 4) : 0xffff_ffff;
      t.equal(readLo & 0xf, type, `BAR${b.index} type bits are read-only`);
      const mask = (BigInt(readHi) << 32n) | BigInt((readLo & ~0xf) >>> 0);
      const size = ((~mask) & 0xffff_ffff_ffff_ffffn) + 1n;
      t.equal(size, BigInt(b.size), `BAR${b.index} sizes to ${b.size} bytes`);
      const base = Math.max(b.size, 0x1000_0000);
      fn.configWrite(lo, 4, base);
      if (b.is64) fn.configWrite(hi, 4, 0);
      t.equal(fn.configRead(lo, 4), (base | type) >>> 0, `BAR${b.index} keeps an aligned address`);
    }
  });

  await t.test('a seeded random register storm never throws', async (t) => {
    const seed = opts.seed ?? 0x5eed;
    const rig = buildRig(makeModel);
    const { fn, model, host } = rig;
    const rnd = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const sizes = [1, 2, 4, 4, 4, 3, 8, 0] as const;
    const iterations = opts.iterations ?? 3000;
    let step = 0;
    t.doesNotThrow(() => {
      for (step = 0; step < iterations; step++) {
        const size = pick(sizes);
        const value = Math.floor(rnd() * 0x1_0000_0000);
        const op = Math.floor(rnd() * 4);
        if (op < 2) {
          const offset = rnd() < 0.7 ? Math.floor(rnd() * 0x100) : Math.floor(rnd() * 0x1010);
          if (op === 0) fn.configRead(offset, size);
          else fn.configWrite(offset, size, value);
        } else {
          if (rnd() < 0.9) fn.configWrite(H.command, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
          const b = rnd() < 0.95 && model.bars.length > 0 ? pick(model.bars) : undefined;
          const bar = b?.index ?? Math.floor(rnd() * 8) - 1;
          const span = b?.size ?? 0x1000;
          const offset = Math.floor(rnd() * span * 1.05);
          if (op === 2) fn.barRead(bar, offset, size);
          else fn.barWrite(bar, offset, size, value);
        }
      }
    }, `seed 0x${seed.toString(16)}`);
    await host.settle();
    t.equal(step, iterations, `all ${iterations} accesses ran (seed 0x${seed.toString(16)})`);
    t.equal(fn.configRead(H.vendorId, 2), model.identity.vendorId, 'Vendor ID survived');
    t.equal(fn.configRead(H.status, 2) & Status.CAP_LIST, Status.CAP_LIST, 'Capabilities List bit survived');
    fn.reset();
    t.equal(fn.configRead(H.command, 2), 0, 'FLR after the storm restores Command');
    const msix = rig.fn.capabilities?.msix;
    if (msix != null) t.equal(fn.configRead(msix + MsixCap.offset.messageControl, 2) & MsixControl.ENABLE, 0, 'and MSI-X Enable');
  });
}

// `nvme set-feature | get-feature | queue-log`: the interrupt coalescing features (NVMe Base 1.4 §5.21.1.8 Interrupt
// Coalescing, §5.21.1.9 Interrupt Vector Configuration), nitrolab's vendor Submission Push feature (C0h; the link's
// DOORBELL_PUSH, docs/link-protocol.md §4.1) and its vendor queue statistics log page (C0h).
import { getFeatures, getLogPage, setFeatures } from '../nvme/admin.ts';
import type { NvmeController } from '../nvme/controller.ts';
import { Fid, Lid } from '../nvme/regs.ts';
import { hex } from './util.ts';

type Out = (t: string) => void;

export const FEATURE_USAGE =
  'nvme set-feature DEV coalesce THR TIME | coalesce off | irq-coalesce VECTOR on|off | push on|off\n' +
  'nvme get-feature DEV coalesce | irq-coalesce VECTOR | push\n' +
  'nvme queue-log DEV\n' +
  '  coalesce: THR = completions per interrupt, 0-based (0..255); TIME = aggregation time in 100 µs units (1..255)\n';

/** Feature 08h in words: TIME 0 means no coalescing (NVMe Base 1.4 §5.21.1.8). */
const coalesceText = (v: number): string =>
  ((v >>> 8) & 0xff) === 0 ? 'off' : `THR ${(v & 0xff) + 1} completions, TIME ${((v >>> 8) & 0xff) * 100} us`;
const byte = (t: string | undefined): number => (t !== undefined && /^\d+$/u.test(t) && Number(t) <= 255 ? Number(t) : NaN);
const onOff = (t: string | undefined): boolean | undefined => (t === 'on' ? true : t === 'off' ? false : undefined);

/** `nvme set-feature DEV …`; returns the exit code. */
export async function setFeature(c: NvmeController, args: readonly string[], out: Out, err: Out): Promise<number> {
  const [what, a, b] = args;
  if (what === 'coalesce') {
    const thr = a === 'off' ? 0 : byte(a);
    const time = a === 'off' ? 0 : byte(b);
    if (Number.isNaN(thr) || Number.isNaN(time) || (a !== 'off' && time === 0)) { err(`set-feature coalesce: need THR 0..255 and TIME 1..255, or off\n${FEATURE_USAGE}`); return 1; }
    const v = ((time << 8) | thr) >>> 0;
    await setFeatures(c, Fid.INTERRUPT_COALESCING, v);
    out(`set-feature:0x08 (Interrupt Coalescing), value:${hex(v, 8)} (${coalesceText(v)})\n`);
    return 0;
  }
  if (what === 'irq-coalesce') {
    const iv = Number(a);
    const on = onOff(b);
    if (!Number.isInteger(iv) || iv < 0 || iv > 0xffff || on === undefined) { err(`set-feature irq-coalesce: need VECTOR and on|off\n${FEATURE_USAGE}`); return 1; }
    const v = (iv | (on ? 0 : 1 << 16)) >>> 0;
    await setFeatures(c, Fid.INTERRUPT_VECTOR_CONFIG, v);
    out(`set-feature:0x09 (Interrupt Vector Configuration), value:${hex(v, 8)} (vector ${iv} coalescing ${on ? 'on' : 'off'})\n`);
    return 0;
  }
  if (what === 'push') {
    const on = onOff(a);
    if (on === undefined) { err(`set-feature push: on or off\n${FEATURE_USAGE}`); return 1; }
    await c.setSubmissionPush(on);
    out(`set-feature:0xc0 (Submission Push), value:${hex(on ? 1 : 0, 8)} (SQEs ${on ? 'pushed with the doorbell' : 'fetched by DMA'})\n`);
    return 0;
  }
  err(FEATURE_USAGE);
  return 1;
}

/** `nvme get-feature DEV …`. */
export async function getFeature(c: NvmeController, args: readonly string[], out: Out, err: Out): Promise<number> {
  const [what, a] = args;
  if (what === 'coalesce') {
    const v = await getFeatures(c, Fid.INTERRUPT_COALESCING);
    out(`get-feature:0x08 (Interrupt Coalescing), Current value:${hex(v, 8)} (${coalesceText(v)})\n`);
    return 0;
  }
  if (what === 'irq-coalesce') {
    const iv = Number(a);
    if (!Number.isInteger(iv) || iv < 0 || iv > 0xffff) { err(`get-feature irq-coalesce: need VECTOR\n${FEATURE_USAGE}`); return 1; }
    const v = await getFeatures(c, Fid.INTERRUPT_VECTOR_CONFIG, 0, iv);
    out(`get-feature:0x09 (Interrupt Vector Configuration), Current value:${hex(v, 8)} (vector ${v & 0xffff} coalescing ${(v >>> 16) & 1 ? 'off' : 'on'})\n`);
    return 0;
  }
  if (what === 'push') {
    const v = await getFeatures(c, Fid.SUBMISSION_PUSH);
    out(`get-feature:0xc0 (Submission Push), Current value:${hex(v, 8)} (${v & 1 ? 'on' : 'off'})\n`);
    return 0;
  }
  err(FEATURE_USAGE);
  return 1;
}

/** Field names of the vendor queue statistics log (C0h), in its order: eight-byte counters. */
const QUEUE_LOG_FIELDS = [
  'io_sq_dma_reads', 'io_sqe_dma_fetched', 'sqe_pushed', 'push_frames', 'push_stale', 'io_cqe_posted', 'io_interrupts',
] as const;

/** The counters of the previous `queue-log` per controller, so each report also shows what changed since. */
const previous = new WeakMap<NvmeController, number[]>();

/** `nvme queue-log DEV`: the card's counts of how I/O SQEs arrived and how often it interrupted, each with its
 *  change since the previous `queue-log` of this controller in brackets. */
export async function queueLog(c: NvmeController, out: Out): Promise<number> {
  const page = await getLogPage(c, Lid.QUEUE_STATS, QUEUE_LOG_FIELDS.length * 8);
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const now = QUEUE_LOG_FIELDS.map((_, i) => Number(v.getBigUint64(i * 8, true)));
  const before = previous.get(c) ?? now.map(() => 0);
  previous.set(c, now);
  out(`Queue statistics log (vendor 0xc0) for NVME device:${c.name}\n`);
  QUEUE_LOG_FIELDS.forEach((name, i) => out(`${name.padEnd(20)}: ${now[i] ?? 0} (+${(now[i] ?? 0) - (before[i] ?? 0)})\n`));
  return 0;
}

// NBD-HS-* and NBD-TX-*: the block store behind an EBS-like card, reached with --nbd URL (specs.md §6, proto.md
// "Baseline"). Writes restore the bytes they overwrite.
import type { SuiteContext } from '../context.ts';
import { Cmd, IHAVEOPT, NBDMAGIC, NbdWire, OPT_REPLY_MAGIC, Opt, Rep, TxFlag } from '../nbd-wire.ts';
import { Skip, check, defineGroup, hex } from '../types.ts';

const HS = 'specs.md §6.2 fixed-newstyle handshake';
const TX = 'specs.md §6.3 transmission';

async function wire(ctx: SuiteContext): Promise<NbdWire> {
  if (ctx.opts.nbdUrl === undefined) throw new Skip('no --nbd URL given');
  const w = await NbdWire.connect(ctx.opts.nbdUrl);
  await w.greet(ctx.timeoutMs);
  return w;
}

/** GO to the URL's export; returns size and transmission flags. */
async function go(ctx: SuiteContext): Promise<{ w: NbdWire; size: number; flags: number }> {
  const w = await wire(ctx);
  w.sendOption(Opt.GO, NbdWire.infoPayload(w.exportName));
  const replies = await w.optionReplies(ctx.timeoutMs);
  const last = replies[replies.length - 1];
  check(last?.type === Rep.ACK, `GO ended with reply type ${hex(last?.type ?? 0)}`);
  const info = replies.find((r) => r.type === Rep.INFO && r.data.readUInt16BE(0) === 0);
  check(info !== undefined, 'GO sent no NBD_INFO_EXPORT before its ACK');
  return { w, size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
}

let cookie = 1n;

async function io(ctx: SuiteContext, w: NbdWire, type: number, offset: number, length: number, data?: Buffer) {
  const c = cookie++;
  w.request(type, c, offset, length, data);
  const r = await w.simpleReply(type === Cmd.READ ? length : 0, ctx.timeoutMs);
  check(r.magic === 0x67446698, `reply magic ${hex(r.magic)}`);
  check(r.cookie === c, `reply cookie ${r.cookie} != ${c}`);
  return r;
}

export const NBD_CASES = [
  ...defineGroup('NBD-HS', [
    { n: 1, level: 'M', clause: `${HS} step 1`, title: 'the server greets with NBDMAGIC, IHAVEOPT and FIXED_NEWSTYLE',
      async run(ctx) {
        if (ctx.opts.nbdUrl === undefined) throw new Skip('no --nbd URL given');
        const w = await NbdWire.connect(ctx.opts.nbdUrl);
        try {
          const g = await w.greet(ctx.timeoutMs);
          check(g.magic === NBDMAGIC && g.opt === IHAVEOPT, `magics ${g.magic.toString(16)} ${g.opt.toString(16)}`);
          check((g.flags & 1) === 1, `handshake flags ${hex(g.flags, 4)} lack FIXED_NEWSTYLE`);
        } finally { w.close(); }
      } },
    { n: 2, level: 'M', clause: `${HS} "must answer an unknown option with ERR_UNSUP and keep parsing"`, title: 'an unknown option gets ERR_UNSUP and the next option still works',
      async run(ctx) {
        const w = await wire(ctx);
        try {
          w.sendOption(0x4242);
          const r = await w.optionReply(ctx.timeoutMs);
          check(r.magic === OPT_REPLY_MAGIC && r.opt === 0x4242, `reply magic/option ${r.magic.toString(16)}/${r.opt}`);
          check(r.type === Rep.ERR_UNSUP, `reply type ${hex(r.type)}, expected ERR_UNSUP`);
          w.sendOption(Opt.LIST);
          const l = await w.optionReplies(ctx.timeoutMs);
          check(l[l.length - 1]?.type === Rep.ACK, 'LIST after the unknown option did not end in ACK');
        } finally { w.close(); }
      } },
    { n: 3, level: 'M', clause: `${HS} LIST`, title: 'LIST answers zero or more SERVER replies then ACK',
      async run(ctx) {
        const w = await wire(ctx);
        try {
          w.sendOption(Opt.LIST);
          const l = await w.optionReplies(ctx.timeoutMs);
          check(l[l.length - 1]?.type === Rep.ACK, `LIST ended with ${hex(l[l.length - 1]?.type ?? 0)}`);
          check(l.slice(0, -1).every((r) => r.type === Rep.SERVER && r.data.readUInt32BE(0) <= r.data.length - 4), 'malformed SERVER reply');
        } finally { w.close(); }
      } },
    { n: 4, level: 'M', clause: `${HS} INFO`, title: 'INFO answers INFO_EXPORT (size, flags with HAS_FLAGS) then ACK and stays in negotiation',
      async run(ctx) {
        const w = await wire(ctx);
        try {
          w.sendOption(Opt.INFO, NbdWire.infoPayload(w.exportName));
          const l = await w.optionReplies(ctx.timeoutMs);
          const info = l.find((r) => r.type === Rep.INFO && r.data.readUInt16BE(0) === 0);
          check(info !== undefined && info.data.length === 12, 'no 12-byte INFO_EXPORT reply');
          check((info.data.readUInt16BE(10) & TxFlag.HAS_FLAGS) !== 0, 'transmission flags lack HAS_FLAGS');
          check(l[l.length - 1]?.type === Rep.ACK, 'INFO did not end in ACK');
          w.sendOption(Opt.LIST);
          check((await w.optionReplies(ctx.timeoutMs)).pop()?.type === Rep.ACK, 'LIST after INFO failed');
        } finally { w.close(); }
      } },
    { n: 5, level: 'M', clause: `${HS} GO`, title: 'GO answers INFO_EXPORT then ACK and enters transmission',
      async run(ctx) { const { w } = await go(ctx); w.close(); } },
    { n: 6, level: 'M', clause: `${HS} reply types (ERR_UNKNOWN)`, title: 'GO for an export that does not exist is answered with an error reply',
      async run(ctx) {
        const w = await wire(ctx);
        try {
          w.sendOption(Opt.GO, NbdWire.infoPayload('no-such-export-c0nf0rmance'));
          const l = await w.optionReplies(ctx.timeoutMs);
          const last = l[l.length - 1];
          check(last !== undefined && last.type >= 0x8000_0000, `GO for a missing export ended with ${hex(last?.type ?? 0)}`);
        } finally { w.close(); }
      } },
  ]),
  ...defineGroup('NBD-TX', [
    { n: 1, level: 'M', clause: `${TX} READ/WRITE`, title: 'a WRITE reads back unchanged (the original bytes are restored)',
      async run(ctx) {
        const { w, size, flags } = await go(ctx);
        try {
          if (flags & TxFlag.READ_ONLY) throw new Skip('the export is read-only');
          const len = Math.min(4096, size);
          const orig = (await io(ctx, w, Cmd.READ, 0, len)).data;
          const pat = Buffer.alloc(len, 0x5a);
          check((await io(ctx, w, Cmd.WRITE, 0, len, pat)).error === 0, 'WRITE failed');
          const back = (await io(ctx, w, Cmd.READ, 0, len)).data;
          await io(ctx, w, Cmd.WRITE, 0, len, orig);
          check(back.equals(pat), 'READ after WRITE returned different bytes');
        } finally { w.close(); }
      } },
    { n: 2, level: 'M', clause: `${TX} FLUSH (needs SEND_FLUSH)`, title: 'FLUSH succeeds when SEND_FLUSH is advertised',
      async run(ctx) {
        const { w, flags } = await go(ctx);
        try {
          if (!(flags & TxFlag.SEND_FLUSH)) throw new Skip('SEND_FLUSH not advertised');
          const r = await io(ctx, w, Cmd.FLUSH, 0, 0);
          check(r.error === 0, `FLUSH error ${r.error}`);
        } finally { w.close(); }
      } },
    { n: 3, level: 'O', clause: `${TX} TRIM (needs SEND_TRIM)`, title: 'TRIM of one block succeeds when SEND_TRIM is advertised',
      async run(ctx) {
        const { w, flags, size } = await go(ctx);
        try {
          if (!(flags & TxFlag.SEND_TRIM)) throw new Skip('SEND_TRIM not advertised');
          if (flags & TxFlag.READ_ONLY) throw new Skip('the export is read-only');
          const r = await io(ctx, w, Cmd.TRIM, size - 4096, 4096);
          check(r.error === 0, `TRIM error ${r.error}`);
        } finally { w.close(); }
      } },
    { n: 4, level: 'M', clause: `${TX} errors (EINVAL for a read past the end)`, title: 'a READ past the end of the export is answered with an error and no data',
      async run(ctx) {
        const { w, size } = await go(ctx);
        try {
          const r = await io(ctx, w, Cmd.READ, size, 4096);
          check(r.error !== 0, 'READ past the end succeeded');
          const ok = await io(ctx, w, Cmd.READ, 0, 512);
          check(ok.error === 0, 'the connection is not usable after the refused READ');
        } finally { w.close(); }
      } },
    { n: 5, level: 'O', clause: `${TX} WRITE_ZEROES`, title: 'WRITE_ZEROES makes the range read as zeros (restored afterwards)',
      async run(ctx) {
        const { w, flags } = await go(ctx);
        try {
          if (!(flags & TxFlag.SEND_WRITE_ZEROES)) throw new Skip('SEND_WRITE_ZEROES not advertised');
          const orig = (await io(ctx, w, Cmd.READ, 8192, 4096)).data;
          await io(ctx, w, Cmd.WRITE, 8192, 4096, Buffer.alloc(4096, 0x77));
          check((await io(ctx, w, Cmd.WRITE_ZEROES, 8192, 4096)).error === 0, 'WRITE_ZEROES failed');
          const back = (await io(ctx, w, Cmd.READ, 8192, 4096)).data;
          await io(ctx, w, Cmd.WRITE, 8192, 4096, orig);
          check(back.every((b) => b === 0), 'range is not zero after WRITE_ZEROES');
        } finally { w.close(); }
      } },
    { n: 6, level: 'M', clause: `${TX} DISC`, title: 'after DISC the server closes the connection without a reply',
      async run(ctx) {
        const { w } = await go(ctx);
        w.request(Cmd.DISC, 99n, 0, 0);
        check(await w.waitClosed(ctx.timeoutMs), 'the server did not close after DISC');
        w.close();
      } },
  ]),
];

// SQE decoding into a pooled Command (specs.md §2.15 worked example).
import t from 'tap';
import { Command, CommandPool } from '../../../src/devices/nvme/command.ts';

t.test('the Identify Controller worked example decodes to opc 06h, CID 7, PRP1 0x12340000, CNS 1', async (t) => {
  const bytes = new Uint8Array(64);
  bytes.set([0x06, 0x00, 0x07, 0x00], 0);
  bytes.set([0x00, 0x00, 0x34, 0x12], 24);
  bytes[40] = 1;
  const cmd = new Command();
  cmd.load(new DataView(bytes.buffer), 0, 0, 3);
  t.match(cmd, { opc: 6, cid: 7, nsid: 0, prp1: 0x12340000, prp2: 0, cdw10: 1, sqid: 0, gen: 3, status: 0 });
  const p = new CommandPool();
  p.give(cmd);
  t.equal(p.take(), cmd);
});

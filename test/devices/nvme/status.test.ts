// Status packing against the examples of specs.md §2.6.
import t from 'tap';
import { DNR, Sc, status16, statusName, isMediaError } from '../../../src/devices/nvme/status.ts';

t.test('status16 packs SC, SCT, DNR and P as specs.md §2.6 tabulates', async (t) => {
  t.equal(status16(Sc.SUCCESS, 1), 0x0001);
  t.equal(status16(Sc.INVALID_OPCODE | DNR, 1), 0x8003);
  t.equal(status16(Sc.LBA_OUT_OF_RANGE | DNR, 1), 0x8101);
  t.equal(status16(Sc.INVALID_QUEUE_ID | DNR, 1), 0x8203);
  t.equal(status16(Sc.INVALID_QUEUE_SIZE | DNR, 1), 0x8205);
  t.equal(status16(Sc.INVALID_QUEUE_SIZE | DNR, 0), 0x8204, 'phase 0');
});

t.test('names and classes', async (t) => {
  t.equal(statusName(Sc.PRP_OFFSET_INVALID | DNR), 'prp-offset-invalid');
  t.equal(statusName(0x3f0), 'sct3-sc0xf0');
  t.ok(isMediaError(Sc.WRITE_FAULT));
  t.notOk(isMediaError(Sc.INTERNAL_ERROR));
});

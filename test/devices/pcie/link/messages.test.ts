// Layout checks for the link frame header and payloads against docs/link-protocol.md.
import t from 'tap';
import { FrameHeader, RegionAccess, DmaAccess, DmaMap, DmaUnmap, MsixMessage, DeviceInfo, MAX_DATA_XFER, MAX_PAYLOAD } from '../../../../src/devices/pcie/link/messages.ts';

t.test('frame header is 16 bytes with fields at the documented offsets', async (t) => {
  t.equal(FrameHeader.size, 16);
  t.same(FrameHeader.offset, { msgId: 0, cmd: 4, fn: 6, size: 8, flags: 12, error: 14 });
});

t.test('payload structures have their documented sizes and offsets', async (t) => {
  t.same(RegionAccess.offset, { offset: 0, region: 8, count: 12 });
  t.same(DmaAccess.offset, { iova: 0, count: 8 });
  t.same(DmaMap.offset, { flags: 0, memId: 4, iova: 8, size: 16, gpa: 24 });
  t.equal(DmaMap.size, 32);
  t.same(DmaUnmap.offset, { flags: 0, rsvd: 4, iova: 8, size: 16 });
  t.same(MsixMessage.offset, { address: 0, data: 8, vector: 12 });
  t.equal(DeviceInfo.size, 16);
});

t.test('MAX_PAYLOAD leaves room for a full max_data_xfer_size transfer and its access header', async (t) => {
  t.ok(MAX_PAYLOAD >= MAX_DATA_XFER + DmaAccess.size);
});

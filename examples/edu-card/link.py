"""The nitrolab link protocol, card side (docs/link-protocol.md): frames, errnos, and one connection's byte stream.

Every frame starts with a 16-byte little-endian header:
    u32 msgId, u16 cmd, u16 fn, u32 size (header included), u16 flags, u16 error
"""
import struct

HEADER = struct.Struct('<IHHIHH')
HEADER_SIZE = HEADER.size  # 16
MAX_DATA_XFER = 1 << 20
MAX_PAYLOAD = MAX_DATA_XFER + 64
LINK_FN = 0xFFFF

# Commands (§4)
VERSION, DMA_MAP, DMA_UNMAP, DEVICE_GET_INFO = 0x0001, 0x0002, 0x0003, 0x0004
REGION_READ, REGION_WRITE, DMA_READ, DMA_WRITE, DEVICE_RESET = 0x0009, 0x000A, 0x000B, 0x000C, 0x000D
MSIX, BIND, MGMT, DOORBELL_PUSH, PING = 0x8000, 0x8001, 0x8002, 0x8003, 0x8004

# Flags (§2)
REPLY, NO_REPLY, ERROR = 1, 2, 4

# Linux errno values (§6)
EPERM, ENOENT, EIO, EFAULT, EEXIST, ENODEV, EINVAL = 1, 2, 5, 14, 17, 19, 22
ENOSYS, EPROTO, EMSGSIZE, ENOTSUP = 38, 71, 90, 95

# Region numbers follow VFIO: BAR0..BAR5 = 0..5, ROM = 6, CONFIG = 7.
REGION_CONFIG = 7
REGION_ACCESS = struct.Struct('<QII')  # u64 offset, u32 region, u32 count
DMA_ACCESS = struct.Struct('<QQ')      # u64 iova, u64 count
DMA_MAP_PAYLOAD = struct.Struct('<IIQQQ')  # u32 flags, u32 memId, u64 iova, u64 size, u64 gpa
DMA_UNMAP_PAYLOAD = struct.Struct('<IIQQ')  # u32 flags, u32 rsvd, u64 iova, u64 size


class LinkError(Exception):
    """Answer the request with an error reply carrying this errno."""

    def __init__(self, errno, message=''):
        super().__init__(message or f'errno {errno}')
        self.errno = errno


class Frame:
    __slots__ = ('msg_id', 'cmd', 'fn', 'flags', 'error', 'payload', 'oversize')

    def __init__(self, msg_id, cmd, fn, flags, error, payload, oversize=False):
        self.msg_id, self.cmd, self.fn, self.flags, self.error = msg_id, cmd, fn, flags, error
        self.payload = payload
        self.oversize = oversize  # the payload was above MAX_PAYLOAD and was skipped, not kept


def encode(msg_id, cmd, fn, flags=0, error=0, payload=b''):
    return HEADER.pack(msg_id, cmd, fn, HEADER_SIZE + len(payload), flags, error) + bytes(payload)


class ProtocolError(Exception):
    """The byte stream cannot be framed (size < 16): the connection must be closed."""


class Decoder:
    """Turns a byte stream into frames. Handles frames split across reads and skips oversize payloads unbuffered."""

    def __init__(self):
        self.buf = bytearray()
        self.skip = 0  # bytes of an oversize payload still to drop

    def push(self, data):
        self.buf += data
        frames = []
        while True:
            if self.skip:
                n = min(self.skip, len(self.buf))
                del self.buf[:n]
                self.skip -= n
                if self.skip:
                    return frames
            if len(self.buf) < HEADER_SIZE:
                return frames
            msg_id, cmd, fn, size, flags, error = HEADER.unpack_from(self.buf)
            if size < HEADER_SIZE:
                raise ProtocolError(f'frame size {size} < 16')
            if size - HEADER_SIZE > MAX_PAYLOAD:
                del self.buf[:HEADER_SIZE]
                self.skip = size - HEADER_SIZE
                frames.append(Frame(msg_id, cmd, fn, flags, error, b'', oversize=True))
                continue
            if len(self.buf) < size:
                return frames
            payload = bytes(self.buf[HEADER_SIZE:size])
            del self.buf[:size]
            frames.append(Frame(msg_id, cmd, fn, flags, error, payload))

"""The edu teaching device's BAR0 registers (docs/labs/edu-device.md), in plain Python.

The card calls read(off) / write(off, value) for aligned 32-bit accesses. DMA and interrupts go through the two
callables the card hands over: dma_read(iova, n) -> bytes and dma_write(iova, data), which raise DmaFault, and
raise_msix(). `bug` switches on one deliberate, student-like mistake (see BUGS) so the conformance suite can be seen
catching it.
"""
import zlib

ID, LIVENESS, FACTORIAL = 0x00, 0x04, 0x08
STATUS, ERROR = 0x10, 0x14
INT_STATUS, INT_RAISE, INT_ACK, INT_ENABLE = 0x20, 0x24, 0x28, 0x2C
DMA_SRC_LO, DMA_SRC_HI, DMA_DST_LO, DMA_DST_HI = 0x40, 0x44, 0x48, 0x4C
DMA_LEN, DMA_CMD, DMA_RESULT = 0x50, 0x54, 0x58

EDU_ID = 0x010000ED
DMA_MAX = 0x10000
STATUS_BUSY, STATUS_ERROR = 1, 2
INT_FACT, INT_DMA, INT_ERROR, INT_SOFT = 1, 2, 4, 8
INT_ALL = 0xF
CMD_CHECKSUM, CMD_COPY = 1, 2
ERR_NONE, ERR_BAD_COMMAND, ERR_DMA_FAULT, ERR_BAD_LENGTH, ERR_BUSY, ERR_NO_BUS_MASTER = 0, 1, 2, 3, 4, 5

BUGS = {
    'fact-overflow': 'FACTORIAL saturates at 0xFFFFFFFF instead of wrapping modulo 2^32',
    'no-msix': 'completions set INT_STATUS but never send the MSI-X message',
    'id-writable': 'the ID register is an ordinary variable: writes change it',
    'dma-error-ignored': 'a refused DMA is treated as zeros and the command reports success',
}


class DmaFault(Exception):
    pass


class Edu:
    identity = {'vendor': 0x1D0F, 'device': 0xED00, 'subsystem_vendor': 0x1D0F, 'subsystem': 0xED00,
                'revision': 0x01, 'class': 0xFF0000}
    bar0_size = 0x1000

    def __init__(self, dma_read, dma_write, raise_msix, bug=None):
        self.dma_read, self.dma_write, self.raise_msix = dma_read, dma_write, raise_msix
        self.bug = bug
        self.bus_master = False
        self.reset()

    def reset(self):
        self.id = EDU_ID
        self.liveness = 0
        self.factorial = 0
        self.status = 0
        self.error = ERR_NONE
        self.int_status = 0
        self.int_enable = 0
        self.src = self.dst = 0
        self.length = 0
        self.result = 0
        self.bus_master = False

    def read(self, off):
        return {
            ID: self.id, LIVENESS: ~self.liveness & 0xFFFFFFFF, FACTORIAL: self.factorial,
            STATUS: self.status, ERROR: self.error, INT_STATUS: self.int_status, INT_ENABLE: self.int_enable,
            DMA_SRC_LO: self.src & 0xFFFFFFFF, DMA_SRC_HI: self.src >> 32,
            DMA_DST_LO: self.dst & 0xFFFFFFFF, DMA_DST_HI: self.dst >> 32,
            DMA_LEN: self.length, DMA_RESULT: self.result,
        }.get(off, 0)  # INT_RAISE, INT_ACK, DMA_CMD and every unknown offset read 0

    def write(self, off, v):
        if off == ID and self.bug == 'id-writable':
            self.id = v
        elif off == LIVENESS:
            self.liveness = v
        elif off == FACTORIAL:
            self.factorial = self.compute_factorial(v)
            self.interrupt(INT_FACT)
        elif off == INT_RAISE:
            self.interrupt(v & INT_ALL)
        elif off == INT_ACK:
            self.int_status &= ~v
        elif off == INT_ENABLE:
            self.int_enable = v & INT_ALL
        elif off == DMA_SRC_LO:
            self.src = (self.src & ~0xFFFFFFFF) | v
        elif off == DMA_SRC_HI:
            self.src = (self.src & 0xFFFFFFFF) | (v << 32)
        elif off == DMA_DST_LO:
            self.dst = (self.dst & ~0xFFFFFFFF) | v
        elif off == DMA_DST_HI:
            self.dst = (self.dst & 0xFFFFFFFF) | (v << 32)
        elif off == DMA_LEN:
            self.length = v
        elif off == DMA_CMD:
            self.run_command(v)
        # ID, STATUS, ERROR, INT_STATUS, DMA_RESULT are read-only: writes are ignored

    def compute_factorial(self, n):
        result = 1
        for i in range(2, min(n, 34) + 1):  # from 34! on the low 32 bits are all zero
            result *= i
        if self.bug == 'fact-overflow':
            return min(result, 0xFFFFFFFF)
        return result & 0xFFFFFFFF  # what a C uint32_t would hold

    def interrupt(self, bits):
        self.int_status |= bits
        if bits & self.int_enable and self.bug != 'no-msix':
            self.raise_msix()

    def fail(self, code):
        self.status = STATUS_ERROR
        self.error = code
        self.interrupt(INT_ERROR)

    def run_command(self, cmd):
        # This card handles one request at a time, so a command always finishes before the next register access:
        # STATUS.BUSY is never seen set, and ERR_BUSY cannot happen.
        self.status, self.error = 0, ERR_NONE
        if cmd not in (CMD_CHECKSUM, CMD_COPY):
            return self.fail(ERR_BAD_COMMAND)
        if not 1 <= self.length <= DMA_MAX:
            return self.fail(ERR_BAD_LENGTH)
        if not self.bus_master:
            return self.fail(ERR_NO_BUS_MASTER)
        try:
            data = self.dma_read(self.src, self.length)
        except DmaFault:
            if self.bug != 'dma-error-ignored':
                return self.fail(ERR_DMA_FAULT)
            data = bytes(self.length)
        if cmd == CMD_COPY:
            try:
                self.dma_write(self.dst, data)
            except DmaFault:
                if self.bug != 'dma-error-ignored':
                    return self.fail(ERR_DMA_FAULT)
        self.result = zlib.crc32(data) & 0xFFFFFFFF
        self.interrupt(INT_DMA)

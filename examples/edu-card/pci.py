"""A PCI function's config space and MSI-X, the parts a card must get right (specs.md §1.1-§1.5).

Config space is 4 KiB of bytes plus a per-byte mask of which bits software may write. Everything not declared
reads 0 and ignores writes. Capabilities: PCI Express v2 endpoint at 0x40, MSI-X at 0x80, end of list.
"""
import struct

CONFIG_SIZE = 4096
COMMAND_MEMORY, COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE = 1 << 1, 1 << 2, 1 << 10
STATUS_CAP_LIST = 1 << 4
CAP_EXPRESS, CAP_MSIX = 0x10, 0x11
EXPRESS_AT, MSIX_AT = 0x40, 0x80
MSIX_ENABLE, MSIX_FUNCTION_MASK = 1 << 15, 1 << 14


class ConfigSpace:
    def __init__(self):
        self.data = bytearray(CONFIG_SIZE)
        self.writable = bytearray(CONFIG_SIZE)

    def define(self, off, size, value, writable=0):
        self.data[off:off + size] = value.to_bytes(size, 'little')
        self.writable[off:off + size] = writable.to_bytes(size, 'little')

    def read(self, off, size):
        return int.from_bytes(self.data[off:off + size], 'little')

    def write(self, off, size, value):
        for i in range(size):
            mask = self.writable[off + i]
            byte = (value >> (8 * i)) & 0xFF
            self.data[off + i] = (self.data[off + i] & ~mask & 0xFF) | (byte & mask)


class PciFunction:
    """Identity, BARs (32-bit memory) and MSI-X around a device model that owns BAR0.

    The model provides: identity dict, bar0_size, read(off) / write(off, value) for 32-bit BAR0 registers, reset().
    MSI-X table and PBA live in BAR1: table at 0x0000, PBA at 0x1000.
    """

    BAR1_SIZE = 0x2000

    def __init__(self, model, send_msi):
        self.model = model
        self.send_msi = send_msi  # send_msi(address, data, vector)
        self.reset()

    # ---- reset values -------------------------------------------------------------------------------------------
    def reset(self):
        ident = self.model.identity
        cs = ConfigSpace()
        cs.define(0x00, 2, ident['vendor'])
        cs.define(0x02, 2, ident['device'])
        cs.define(0x04, 2, 0, COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE)
        cs.define(0x06, 2, STATUS_CAP_LIST)
        cs.define(0x08, 4, (ident['class'] << 8) | ident['revision'])
        # BAR0 and BAR1: 32-bit, non-prefetchable memory. The writable bits are the address bits above the size,
        # so writing all ones reads back ~(size - 1): that is how a driver sizes a BAR.
        cs.define(0x10, 4, 0, ~(self.model.bar0_size - 1) & 0xFFFFFFFF)
        cs.define(0x14, 4, 0, ~(self.BAR1_SIZE - 1) & 0xFFFFFFFF)
        cs.define(0x2C, 2, ident['subsystem_vendor'])
        cs.define(0x2E, 2, ident['subsystem'])
        cs.define(0x34, 1, EXPRESS_AT)
        cs.define(0x3C, 1, 0, 0xFF)  # Interrupt Line: a scratch byte for software
        # PCI Express capability, version 2, endpoint; everything else in it reads 0.
        cs.define(EXPRESS_AT, 1, CAP_EXPRESS)
        cs.define(EXPRESS_AT + 1, 1, MSIX_AT)
        cs.define(EXPRESS_AT + 2, 2, 0x0002)
        # MSI-X capability: Table Size is N-1 (one vector: 0); Enable and Function Mask are RW; table/PBA in BAR1.
        cs.define(MSIX_AT, 1, CAP_MSIX)
        cs.define(MSIX_AT + 1, 1, 0)
        cs.define(MSIX_AT + 2, 2, 0, MSIX_ENABLE | MSIX_FUNCTION_MASK)
        cs.define(MSIX_AT + 4, 4, 0x0000 | 1)
        cs.define(MSIX_AT + 8, 4, 0x1000 | 1)
        self.cs = cs
        # One MSI-X table entry: address lo/hi, data, vector control (bit 0 Mask, set at reset), and its pending bit.
        self.entry = [0, 0, 0, 1]
        self.pending = False
        self.model.reset()

    # ---- config space ---------------------------------------------------------------------------------------------
    @property
    def command(self):
        return self.cs.read(0x04, 2)

    def msix_control(self):
        return self.cs.read(MSIX_AT + 2, 2)

    def config_read(self, off, size):
        return self.cs.read(off, size)

    def config_write(self, off, size, value):
        self.cs.write(off, size, value)
        self.model.bus_master = bool(self.command & COMMAND_BUS_MASTER)
        self.deliver_pending()  # Bus Master, Enable or Function Mask may have unblocked a pending message

    # ---- BARs -----------------------------------------------------------------------------------------------------
    def bar_read(self, bar, off, size):
        if not self.command & COMMAND_MEMORY:
            return (1 << (8 * size)) - 1  # not decoding: an Unsupported Request reads all ones
        dword = self._dword_read(bar, off & ~3)
        return (dword >> (8 * (off & 3))) & ((1 << (8 * size)) - 1)

    def bar_write(self, bar, off, size, value):
        if not self.command & COMMAND_MEMORY:
            return
        if bar == 0:
            if size == 4 and off % 4 == 0:
                self.model.write(off, value)
            return  # the edu spec: narrower writes are ignored
        if bar == 1 and off < 16:
            i = off // 4
            if size != 4:
                shift = 8 * (off & 3)
                mask = ((1 << (8 * size)) - 1) << shift
                value = (self.entry[i] & ~mask) | ((value << shift) & mask)
            if i == 0:
                value &= 0xFFFFFFFC  # message address is DWORD aligned
            if i == 3:
                value &= 1  # only the Mask bit exists
            self.entry[i] = value & 0xFFFFFFFF
            self.deliver_pending()
        # PBA and the rest of BAR1 are read-only

    def _dword_read(self, bar, off):
        if bar == 0:
            return self.model.read(off) if off < self.model.bar0_size else 0
        if bar == 1:
            if off < 16:
                return self.entry[off // 4]
            if off == 0x1000:
                return 1 if self.pending else 0
        return 0

    # ---- MSI-X delivery (specs.md §1.5) ---------------------------------------------------------------------------
    def _blocked(self):
        return (self.entry[3] & 1) or (self.msix_control() & MSIX_FUNCTION_MASK) or not (self.command & COMMAND_BUS_MASTER)

    def raise_msix(self):
        if not self.msix_control() & MSIX_ENABLE:
            return  # MSI-X off: nothing is sent (INTx is not emulated)
        if self._blocked():
            self.pending = True  # remembered in the PBA until the vector is unmasked
            return
        self.send_msi(self.entry[0] | (self.entry[1] << 32), self.entry[2], 0)

    def deliver_pending(self):
        if self.pending and self.msix_control() & MSIX_ENABLE and not self._blocked():
            self.pending = False
            self.send_msi(self.entry[0] | (self.entry[1] << 32), self.entry[2], 0)


def device_info():
    """DEVICE_GET_INFO reply: flags RESET|PCI, 9 regions (BAR0-5, ROM, CONFIG, VGA), 5 IRQ indices (INTx..REQ)."""
    return struct.pack('<IIII', 1 | 2, 9, 5, 0)

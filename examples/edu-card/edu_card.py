#!/usr/bin/env python3
"""A minimal nitrolab card in plain Python: one PCI function (fn 1), the edu teaching device.

It speaks the link protocol of docs/link-protocol.md over a Unix socket (or TCP on loopback) and nothing else: no
management API, no instances. Function 1 exists from start-up, which is all `nitrolab conformance` needs to find it
(docs/conformance.md §3.2). Run:

    python3 examples/edu-card/edu_card.py --listen /tmp/edu.sock [--bug fact-overflow|no-msix|id-writable|dma-error-ignored]
    nitrolab conformance --card /tmp/edu.sock --only LINK,PCI-CFG,EDU

Design: one thread, one selector. Frames of each connection are handled strictly in arrival order. When the device
needs DMA it sends a DMA_READ/DMA_WRITE request on the connection the function is BOUND to and waits for the reply
right there; frames that arrive meanwhile are queued and handled afterwards, so the host sees every register write
take effect in order.
"""
import argparse
import collections
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep the example directory clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link import (  # noqa: E402
    BIND, DEVICE_GET_INFO, DEVICE_RESET, DMA_ACCESS, DMA_MAP, DMA_MAP_PAYLOAD, DMA_READ, DMA_UNMAP, DMA_UNMAP_PAYLOAD,
    DMA_WRITE, DOORBELL_PUSH, EEXIST, EFAULT, EINVAL, EMSGSIZE, ENODEV, ENOENT, ENOSYS, ENOTSUP, EPERM, EPROTO, ERROR,
    LINK_FN, MAX_DATA_XFER, MGMT, MSIX, NO_REPLY, PING, REGION_ACCESS, REGION_CONFIG, REGION_READ, REGION_WRITE, REPLY,
    VERSION, Decoder, LinkError, ProtocolError, encode,
)
from pci import CONFIG_SIZE, PciFunction, device_info  # noqa: E402
from edu import BUGS, DmaFault, Edu  # noqa: E402

EDU_FN = 1
DMA_TIMEOUT_S = 5.0
FUNCTION_CMDS = {DMA_MAP, DMA_UNMAP, DEVICE_GET_INFO, REGION_READ, REGION_WRITE, DEVICE_RESET, BIND, DOORBELL_PUSH}
LINK_CMDS = {VERSION, PING, MGMT}


class Connection:
    def __init__(self, sock, name):
        self.sock, self.name = sock, name
        self.decoder = Decoder()
        self.queue = collections.deque()
        self.max_xfer = MAX_DATA_XFER
        self.closed = False

    def send(self, data):
        if not self.closed:
            self.sock.sendall(data)


class Card:
    def __init__(self, bug=None):
        self.edu = Edu(self.dma_read, self.dma_write, lambda: self.fn.raise_msix(), bug)
        self.fn = PciFunction(self.edu, self.send_msi)
        self.bound = None      # the connection fn 1 is BOUND to: its DMA and MSI-X go there
        self.windows = []      # (iova, size) announced by DMA_MAP on the bound connection
        self.next_id = 0
        self.sel = selectors.DefaultSelector()

    def new_id(self):
        self.next_id = self.next_id % 0xFFFFFFFF + 1  # 1, 2, ... wrapping to 1, never 0
        return self.next_id

    # ---- the event loop -------------------------------------------------------------------------------------------
    def serve(self, listener):
        self.sel.register(listener, selectors.EVENT_READ, None)
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    sock, _ = listener.accept()
                    sock.setblocking(True)
                    self.sel.register(sock, selectors.EVENT_READ, Connection(sock, f'conn{sock.fileno()}'))
                else:
                    self.readable(key.data)

    def readable(self, conn):
        try:
            data = conn.sock.recv(1 << 20)
        except OSError:
            data = b''
        if not data:
            return self.close(conn)
        try:
            conn.queue.extend(conn.decoder.push(data))
        except ProtocolError:
            return self.close(conn)  # a header with size < 16 cannot be framed: end this connection only
        while conn.queue and not conn.closed:
            self.dispatch(conn, conn.queue.popleft())

    def close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        self.sel.unregister(conn.sock)
        conn.sock.close()
        if self.bound is conn:  # link down: the function is unbound and its windows are forgotten
            self.bound, self.windows = None, []

    # ---- one frame ------------------------------------------------------------------------------------------------
    def dispatch(self, conn, f):
        if f.flags & REPLY:
            return  # a late reply to something we sent: nothing is waiting for it any more
        posted = bool(f.flags & NO_REPLY)
        try:
            if f.oversize:
                raise LinkError(EMSGSIZE, 'payload above MAX_PAYLOAD')
            if f.flags & ERROR:
                raise LinkError(EPROTO, 'ERROR flag without REPLY')
            payload = self.handle(conn, f, posted)
            if not posted:
                conn.send(encode(f.msg_id, f.cmd, f.fn, REPLY, 0, payload))
        except LinkError as e:
            # An error is always an explicit reply with the header only, even for a posted frame.
            conn.send(encode(f.msg_id, f.cmd, f.fn, REPLY | ERROR, e.errno))

    def handle(self, conn, f, posted):
        if f.cmd not in FUNCTION_CMDS and f.cmd not in LINK_CMDS:
            raise LinkError(ENOSYS, f'unknown command 0x{f.cmd:x}')
        if f.cmd in LINK_CMDS:
            if f.fn != LINK_FN:
                raise LinkError(ENODEV, 'a link command on a function')
            if f.cmd == PING:
                return b''
            if f.cmd == VERSION:
                return self.version(conn, f.payload)
            if posted:
                return b''  # MGMT events (the suite's "hello"): this card has no management plane
            raise LinkError(ENOSYS, 'this card has no management channel')
        if f.fn != EDU_FN:
            raise LinkError(ENODEV, f'no function {f.fn}')
        if f.cmd == DEVICE_GET_INFO:
            return device_info()
        if f.cmd == REGION_READ:
            off, region, count = self.region_access(f.payload)
            value = self.fn.config_read(off, count) if region == REGION_CONFIG else self.fn.bar_read(region, off, count)
            return f.payload[:16] + value.to_bytes(count, 'little')
        if f.cmd == REGION_WRITE:
            off, region, count = self.region_access(f.payload)
            if len(f.payload) < 16 + count:
                raise LinkError(EINVAL, 'REGION_WRITE data shorter than count')
            value = int.from_bytes(f.payload[16:16 + count], 'little')
            if region == REGION_CONFIG:
                self.fn.config_write(off, count, value)
            else:
                self.fn.bar_write(region, off, count, value)
            return f.payload[:16]
        if f.cmd == DEVICE_RESET:
            self.fn.reset()
            return b''
        if f.cmd == BIND:
            self.bound, self.windows = conn, []
            return b''
        if f.cmd == DMA_MAP:
            if conn is not self.bound:
                raise LinkError(EPERM, 'DMA_MAP from a connection that is not the BIND')
            if len(f.payload) < DMA_MAP_PAYLOAD.size:
                raise LinkError(EINVAL, 'short DMA_MAP')
            _flags, _mem_id, iova, size, _gpa = DMA_MAP_PAYLOAD.unpack_from(f.payload)
            if any(iova < i + s and i < iova + size for i, s in self.windows):
                raise LinkError(EEXIST, 'window overlaps')
            self.windows.append((iova, size))
            return b''
        if f.cmd == DMA_UNMAP:
            if conn is not self.bound:
                raise LinkError(EPERM, 'DMA_UNMAP from a connection that is not the BIND')
            if len(f.payload) < DMA_UNMAP_PAYLOAD.size:
                raise LinkError(EINVAL, 'short DMA_UNMAP')
            _flags, _rsvd, iova, size = DMA_UNMAP_PAYLOAD.unpack_from(f.payload)
            if (iova, size) not in self.windows:
                raise LinkError(ENOENT, 'no such window')
            self.windows.remove((iova, size))
            return b''
        raise LinkError(ENOTSUP, 'DOORBELL_PUSH is not supported')

    def region_access(self, payload):
        if len(payload) < REGION_ACCESS.size:
            raise LinkError(EINVAL, 'short region access')
        off, region, count = REGION_ACCESS.unpack_from(payload)
        limit = {REGION_CONFIG: CONFIG_SIZE, 0: Edu.bar0_size, 1: PciFunction.BAR1_SIZE}.get(region)
        if count not in (1, 2, 4) or limit is None or off + count > limit:
            raise LinkError(EINVAL, f'bad access: region {region} offset 0x{off:x} count {count}')
        return off, region, count

    def version(self, conn, payload):
        if len(payload) < 4:
            raise LinkError(EINVAL, 'short VERSION')
        major, minor = struct.unpack_from('<HH', payload)
        if major != 1:
            raise LinkError(ENOTSUP, f'link major {major}, this card speaks 1')
        caps = {'max_data_xfer_size': MAX_DATA_XFER, 'max_dma_maps': 65535, 'pgsizes': 0x1000}
        text = payload[4:].split(b'\0', 1)[0]
        try:
            proposed = json.loads(text).get('capabilities', {}) if text else {}
        except (ValueError, AttributeError):
            raise LinkError(EINVAL, 'VERSION capabilities are not JSON') from None
        for k in ('max_data_xfer_size', 'max_dma_maps'):
            if isinstance(proposed.get(k), int) and proposed[k] > 0:
                caps[k] = min(caps[k], proposed[k])
        if isinstance(proposed.get('pgsizes'), int):
            caps['pgsizes'] &= proposed['pgsizes']
        conn.max_xfer = caps['max_data_xfer_size']
        return struct.pack('<HH', 1, min(minor, 0)) + json.dumps({'capabilities': caps}).encode() + b'\0'

    # ---- the device's way out: DMA and MSI-X on the bound connection ----------------------------------------------
    def round_trip(self, cmd, payload):
        """Send a request on the bound connection and wait for its reply; other frames are queued meanwhile."""
        conn = self.bound
        if conn is None or conn.closed:
            raise DmaFault('the function is not bound (link down)')
        msg_id = self.new_id()
        conn.send(encode(msg_id, cmd, EDU_FN, 0, 0, payload))
        deadline = time.monotonic() + DMA_TIMEOUT_S
        while True:
            for f in conn.queue:
                if f.flags & REPLY and f.msg_id == msg_id:
                    conn.queue.remove(f)
                    if f.flags & ERROR:
                        raise DmaFault(f'the host refused it: errno {f.error}')  # EFAULT/EPERM from the IOMMU
                    return f.payload
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([conn.sock], [], [], left)[0]:
                raise DmaFault('no reply from the host')
            data = conn.sock.recv(1 << 20)
            if not data:
                self.close(conn)
                raise DmaFault('link down')
            try:
                conn.queue.extend(conn.decoder.push(data))
            except ProtocolError:
                self.close(conn)
                raise DmaFault('link down') from None

    def dma_read(self, iova, n):
        out = bytearray()
        while len(out) < n:  # split at the agreed max_data_xfer_size
            count = min(n - len(out), self.bound.max_xfer if self.bound else n)
            reply = self.round_trip(DMA_READ, DMA_ACCESS.pack(iova + len(out), count))
            data = reply[DMA_ACCESS.size:]
            if len(data) != count:
                raise DmaFault(f'DMA_READ reply carries {len(data)} bytes, asked {count}')
            out += data
        return bytes(out)

    def dma_write(self, iova, data):
        # Sent as a request, not posted, so that an IOMMU refusal comes back before the command completes.
        step = self.bound.max_xfer if self.bound else len(data)
        for at in range(0, len(data), step):
            chunk = data[at:at + step]
            self.round_trip(DMA_WRITE, DMA_ACCESS.pack(iova + at, len(chunk)) + chunk)

    def send_msi(self, address, data, vector):
        if self.bound is not None and not self.bound.closed:
            self.bound.send(encode(self.new_id(), MSIX, EDU_FN, NO_REPLY, 0, struct.pack('<QII', address, data, vector)))


def listen(address):
    if '/' in address or address.startswith('unix:'):
        path = address[5:] if address.startswith('unix:') else address
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
    else:
        host, port = address.rsplit(':', 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(16)
    return s


def main():
    ap = argparse.ArgumentParser(description='A minimal nitrolab card with one edu function (fn 1).')
    ap.add_argument('--listen', required=True, help='Unix socket path, or host:port (use 127.0.0.1)')
    ap.add_argument('--bug', choices=sorted(BUGS), default=os.environ.get('EDU_CARD_BUG') or None,
                    help='switch on one deliberate mistake (also: EDU_CARD_BUG=name)')
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = listen(args.listen)
    bug = f'; deliberate bug: {args.bug} ({BUGS[args.bug]})' if args.bug else ''
    print(f'edu-card: listening on {args.listen}; fn 1 = edu 1d0f:ed00{bug}', flush=True)
    try:
        Card(args.bug).serve(listener)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()

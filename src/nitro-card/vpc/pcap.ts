// libpcap savefile writer (pcap-savefile(5); specs.md §7.3): a 24-byte little-endian global header (magic 0xA1B2C3D4,
// microsecond timestamps, v2.4, LINKTYPE_ETHERNET), then a 16-byte record header and the frame (no FCS) per packet.
// Files stop growing at `maxBytes` (further packets are counted as dropped), so a forgotten mirror cannot fill a disk.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { LINKTYPE_ETHERNET, PCAP_MAGIC_US, PcapGlobalHdr, PcapRecordHdr } from '../../devices/net-wire.ts';

export const PCAP_SNAPLEN = 65535;

export function pcapGlobalHeader(snaplen = PCAP_SNAPLEN, network = LINKTYPE_ETHERNET): Uint8Array {
  const b = new Uint8Array(PcapGlobalHdr.size);
  const v = new DataView(b.buffer);
  const G = PcapGlobalHdr.offset;
  v.setUint32(G.magic, PCAP_MAGIC_US, true);
  v.setUint16(G.version_major, 2, true);
  v.setUint16(G.version_minor, 4, true);
  v.setUint32(G.thiszone, 0, true);
  v.setUint32(G.sigfigs, 0, true);
  v.setUint32(G.snaplen, snaplen, true);
  v.setUint32(G.network, network, true);
  return b;
}

/** Record header + frame bytes (cut to `snaplen`) for a packet seen at `tsUs` microseconds since the epoch. */
export function pcapRecord(frame: Uint8Array, tsUs: number, snaplen = PCAP_SNAPLEN): Uint8Array {
  const incl = Math.min(frame.length, snaplen);
  const b = new Uint8Array(PcapRecordHdr.size + incl);
  const v = new DataView(b.buffer);
  const R = PcapRecordHdr.offset;
  v.setUint32(R.ts_sec, Math.floor(tsUs / 1e6), true);
  v.setUint32(R.ts_usec, Math.floor(tsUs % 1e6), true);
  v.setUint32(R.incl_len, incl, true);
  v.setUint32(R.orig_len, frame.length, true);
  b.set(frame.subarray(0, incl), PcapRecordHdr.size);
  return b;
}

export class PcapWriter {
  private fd: number | undefined;
  private size = 0;
  packets = 0;
  dropped = 0;

  constructor(readonly path: string, readonly maxBytes = 4 * 1024 * 1024, private readonly nowUs: () => number = () => Date.now() * 1000) {
    this.fd = openSync(path, 'w');
    this.put(pcapGlobalHeader());
  }

  get open(): boolean { return this.fd !== undefined; }
  get bytes(): number { return this.size; }

  write(frame: Uint8Array): void {
    if (this.fd === undefined) return;
    const rec = pcapRecord(frame, this.nowUs());
    if (this.size + rec.length > this.maxBytes) { this.dropped++; return; }
    this.put(rec);
    this.packets++;
  }

  private put(b: Uint8Array): void {
    writeSync(this.fd!, b);
    this.size += b.length;
  }

  /** The file as written so far. */
  read(): Buffer { return readFileSync(this.path); }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

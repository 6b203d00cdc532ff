// pcap savefile bytes against specs.md §7.3, and a real capture (an ICMP ping mirrored on an ENI, plus the
// Geneve-encapsulated copy of a cross-host packet) decoded by `tshark -r` (run under CI=true, where tshark is installed).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pcapGlobalHeader, pcapRecord, PcapWriter } from '../../../src/nitro-card/vpc/pcap.ts';
import { geneveEncap, underlayFrame } from '../../../src/nitro-card/vpc/geneve.ts';
import { icmpFrame } from '../../../src/nitro-card/vpc/frames.ts';
import { GENEVE_PORT, IcmpType } from '../../../src/devices/net-wire.ts';
import { addEni, GATEWAY_MAC, ip, makePlane, SG_OPEN_OUT, SG_WEB } from './fixtures.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();

t.test('global header and record header bytes are the spec examples', async (t) => {
  t.equal(hex(pcapGlobalHeader()), 'd4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00 ff ff 00 00 01 00 00 00');
  const rec = pcapRecord(new Uint8Array(60), 1700000000 * 1e6 + 123456);
  t.equal(hex(rec.subarray(0, 16)), '00 f1 53 65 40 e2 01 00 3c 00 00 00 3c 00 00 00');
  t.equal(rec.length, 76);
  const cut = pcapRecord(new Uint8Array(100), 0, 64);
  const v = new DataView(cut.buffer);
  t.same([v.getUint32(8, true), v.getUint32(12, true)], [64, 100], 'incl_len ≤ snaplen, orig_len is the wire length');
});

t.test('the writer stops at maxBytes and counts what it could not store', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-pcap-'));
  const w = new PcapWriter(join(dir, 'x.pcap'), 24 + 2 * (16 + 60), () => 0);
  for (let i = 0; i < 3; i++) w.write(new Uint8Array(60));
  w.close();
  t.equal(w.packets, 2);
  t.equal(w.dropped, 1);
  t.equal(w.read().length, 24 + 2 * 76);
  w.write(new Uint8Array(60));
  t.equal(w.packets, 2, 'closed writers ignore frames');
});

const tsharkReason = process.env['CI'] === 'true' ? false : 'needs tshark; runs under CI=true (CI installs tshark)';

t.test('tshark -r decodes a mirrored ping and a Geneve-encapsulated copy on 6081 with ICMP inside', { skip: tsharkReason }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-pcap-'));
  const { plane } = makePlane();
  plane.setSecurityGroups([{ groupId: SG_WEB, rules: [SG_OPEN_OUT, { ruleId: 'icmp', direction: 'ingress', protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] }]);
  const a = addEni(plane, 10);
  const b = addEni(plane, 11);
  a.eni.mirror = new PcapWriter(join(dir, 'mirror.pcap'));
  plane.fromGuest(a.eni, icmpFrame(GATEWAY_MAC, a.eni.mac, a.eni.ip, b.eni.ip, IcmpType.ECHO_REQUEST, 0x42, 1));
  plane.fromGuest(b.eni, icmpFrame(GATEWAY_MAC, b.eni.mac, b.eni.ip, a.eni.ip, IcmpType.ECHO_REPLY, 0x42, 1));
  const encap = geneveEncap(1, icmpFrame(GATEWAY_MAC, a.eni.mac, a.eni.ip, ip('10.0.0.12'), IcmpType.ECHO_REQUEST, 0x42, 2));
  a.eni.mirror.write(underlayFrame({ address: '127.1.2.3', port: GENEVE_PORT }, { address: '127.4.5.6', port: GENEVE_PORT }, encap));
  a.eni.mirror.close();
  const out = execFileSync('tshark', ['-r', join(dir, 'mirror.pcap'), '-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'icmp.type', '-e', 'geneve.vni'], { encoding: 'utf8' });
  const lines = out.trim().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0], /^eth:ethertype:ip:icmp:data\t10\.0\.0\.10\t8\t$/);
  t.match(lines[1], /^eth:ethertype:ip:icmp:data\t10\.0\.0\.11\t0\t$/);
  t.match(lines[2], /^eth:ethertype:ip:udp:geneve:eth:ethertype:ip:icmp:data\t127\.1\.2\.3,10\.0\.0\.10\t8\t0x0*1$/);
});

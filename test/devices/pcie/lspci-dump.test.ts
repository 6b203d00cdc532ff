// lspci dump rendering, and lspci itself (pciutils) as the conformance oracle for the stand-in function's config space.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLspciDump, renderLspciDump } from '../../../src/devices/pcie/lspci-dump.ts';
import { PciFunction } from '../../../src/devices/pcie/pci-function.ts';
import { Command } from '../../../src/devices/pcie/config-space.ts';
import { MsixCap, MsixControl } from '../../../src/devices/pcie/capabilities.ts';
import { FakeHost } from '../../helpers/fake-host.ts';
import { makeStandInDevice } from './stand-in-device.ts';

function standInFunction(): PciFunction {
  const host = new FakeHost(4096);
  const fn = new PciFunction({ sendMsi: () => {}, log: host.log, metrics: host.metrics, serialNumber: 0x0011_2233_4455_6677n });
  fn.attach(makeStandInDevice(host.context(), { msixVectors: 8 }));
  return fn;
}

t.test('a dump is the address line, then 16 hex bytes a line, then a blank line', async (t) => {
  const config = new Uint8Array(256).map((_, i) => i);
  const text = renderLspciDump(config, { address: '00:03.0', name: 'stand-in' });
  const lines = text.split('\n');
  t.equal(lines[0], '00:03.0 stand-in');
  t.equal(lines[1], '00: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f');
  t.equal(lines[16], 'f0: f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 fa fb fc fd fe ff');
  t.equal(lines.length, 19);
  t.ok(text.endsWith('\n\n'));
  t.match(renderLspciDump(new Uint8Array(4096)).split('\n')[256] ?? '', /^ff0: 00/, '4 KiB dumps use three-digit offsets');
});

t.test('parse reads back what render wrote', async (t) => {
  const config = standInFunction().configSnapshot(4096);
  const back = parseLspciDump(renderLspciDump(config, { address: '0000:00:1f.7' }));
  t.equal(back.address, '0000:00:1f.7');
  t.same(back.config, config);
});

t.test('bad sizes, addresses and lines are rejected', async (t) => {
  t.throws(() => renderLspciDump(new Uint8Array(64)), /256 or 4096/);
  t.throws(() => renderLspciDump(new Uint8Array(256), { address: 'zz' }), /bad PCI address/);
  t.throws(() => parseLspciDump('hello\n'), /bus address/);
  t.throws(() => parseLspciDump('00:00.0 x\n00: 0g\n'), /bad lspci dump line/);
});

const lspci = spawnSync('lspci', ['--version'], { encoding: 'utf8' });
const haveLspci = !lspci.error && lspci.status === 0;
const skipReason = haveLspci || process.env.CI === 'true' ? false : 'lspci (pciutils) is not installed on this machine';

t.test('lspci -vv -F decodes the header, PM, Express and MSI-X of the stand-in function', { skip: skipReason }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nitrolab-lspci-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fn = standInFunction();
  fn.configWrite(0x10, 4, 0xfebf_0000);
  fn.configWrite(0x04, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
  fn.configWrite((fn.capabilities?.msix ?? 0) + MsixCap.offset.messageControl, 2, MsixControl.ENABLE);
  const decode = (config: Uint8Array): string => {
    const file = join(dir, `dump-${config.length}.txt`);
    writeFileSync(file, renderLspciDump(config, { address: '00:00.0' }));
    const r = spawnSync('lspci', ['-vv', '-n', '-F', file], { encoding: 'utf8' });
    t.equal(r.status, 0, `lspci exit status (stderr: ${r.stderr.trim()})`);
    return r.stdout;
  };
  const out = decode(fn.configSnapshot(4096));
  t.match(out, /^00:00\.0 ff00: 1b36:00ff \(rev 02\)/, 'identity and class');
  t.match(out, /Subsystem: 1b36:0001/);
  t.match(out, /Control: I\/O- Mem\+ BusMaster\+ .* DisINTx-/);
  t.match(out, /Status: Cap\+ /);
  t.match(out, /Region 0: Memory at febf0000 \(64-bit, non-prefetchable\)/);
  t.match(out, /Region 2: Memory at <unassigned> \(32-bit, prefetchable\)/);
  t.notMatch(out, /Expansion ROM/, 'no ROM');
  t.match(out, /Capabilities: \[40\] Power Management version 3/);
  t.match(out, /Status: D0 NoSoftRst\+/);
  t.match(out, /Capabilities: \[48\] Express \(v2\) Endpoint, MSI 00/);
  t.match(out, /DevCap:\s+MaxPayload 256 bytes/);
  t.match(out, /RBE\+ FLReset\+/, 'FLR capable');
  t.match(out, /MaxPayload 128 bytes, MaxReadReq 512 bytes/);
  t.match(out, /LnkCap:\s+Port #0, Speed 8GT\/s, Width x4/);
  t.match(out, /LnkCap2: Supported Link Speeds: 2\.5-8GT\/s/);
  t.match(out, /Capabilities: \[7c\] MSI-X: Enable\+ Count=8 Masked-/);
  t.match(out, /Vector table: BAR=0 offset=00002000/);
  t.match(out, /PBA: BAR=0 offset=00003000/);
  t.match(out, /Capabilities: \[88\] Vendor Specific Information: Len=08/);
  t.match(out, /Capabilities: \[100 v1\] Device Serial Number 00-11-22-33-44-55-66-77/);
  t.notMatch(out, /chain broken|looped|<BAD/i, 'both capability lists are well formed');

  const short = decode(fn.configSnapshot(256));
  t.match(short, /MSI-X: Enable\+ Count=8/, 'a 256-byte dump decodes the standard list too');
  t.notMatch(short, /Device Serial Number/, 'but has no extended capabilities');
});

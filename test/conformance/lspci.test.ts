// lspci (pciutils) as an independent decoder of our card's config space, read over the link as the suite reads it
// (specs.md §8.4: libvfio-user's test-lspci): an instance launched through the management API gives an NVMe function
// and a virtio-net function; their 4 KiB config spaces, with BARs assigned and MSI-X enabled as a host would, are
// rendered in `lspci -x` form and decoded with `lspci -vv -n -F`. pciutils is installed in CI.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { socketConnector } from '../../src/conformance/connect.ts';
import { readConfig } from '../../src/conformance/groups/pci-cfg.ts';
import { GUEST_BYTES } from '../../src/conformance/guest.ts';
import { CardSession } from '../../src/conformance/session.ts';
import { CapId, MsixCap, MsixControl, walkCapabilities } from '../../src/devices/pcie/capabilities.ts';
import { Command, Type0Header, barRegOffset } from '../../src/devices/pcie/config-space.ts';
import type { RootComplex } from '../../src/devices/pcie/link/root-complex.ts';
import { renderLspciDump } from '../../src/devices/pcie/lspci-dump.ts';
import { startCardProcess, tmpDir } from './helpers.ts';

const lspci = spawnSync('lspci', ['--version'], { encoding: 'utf8' });
const skip = !lspci.error && lspci.status === 0 ? false : process.env.CI === 'true' ? false : 'lspci (pciutils) is not installed on this machine';

/** Assign BAR addresses (64-bit BARs take two registers), enable decoding and MSI-X, as a host's enumeration does. */
async function enumerate(rc: RootComplex, fn: number, base: number): Promise<void> {
  let addr = base;
  for (let i = 0; i < 6; i++) {
    const off = barRegOffset(i);
    const orig = await rc.configRead(fn, off, 4);
    await rc.configWrite(fn, off, 4, 0xffff_ffff);
    const probe = await rc.configRead(fn, off, 4);
    await rc.configWrite(fn, off, 4, orig);
    if (probe === 0) continue;
    await rc.configWrite(fn, off, 4, addr);
    addr += 0x10_0000;
    if ((probe & 0b110) === 0b100) i++;
  }
  await rc.configWrite(fn, Type0Header.offset.command, 2, Command.MEMORY_SPACE | Command.BUS_MASTER);
  const cfg = await readConfig(rc, fn);
  const msix = walkCapabilities((o) => cfg[o] ?? 0).find((c) => c.id === CapId.MSIX);
  if (msix) await rc.configWrite(fn, msix.offset + MsixCap.offset.messageControl, 2, MsixControl.ENABLE);
}

t.test('lspci -vv -F decodes the NVMe and virtio-net functions of a launched instance', { skip }, async (t) => {
  const card = await startCardProcess(t);
  const session = new CardSession(socketConnector(card.linkPath), 3000);
  t.teardown(() => session.close());
  await session.startHypervisor();
  const launched = await session.launch({ url: card.mgmtUrl, token: card.token }, GUEST_BYTES);
  t.equal(launched.error, undefined, 'the instance launched');
  const rc = await session.open('lspci');
  const kinds = await Promise.all(launched.fns.map((fn) => session.describe(rc, fn)));
  const nvme = kinds.find((f) => f.kind === 'nvme');
  const virtio = kinds.find((f) => f.kind === 'virtio');
  if (nvme === undefined || virtio === undefined) throw new Error(`functions: ${JSON.stringify(kinds)}`);
  await enumerate(rc, nvme.fn, 0xfe00_0000);
  await enumerate(rc, virtio.fn, 0xfd00_0000);
  const file = path.join(tmpDir(t), 'config.txt');
  writeFileSync(file, renderLspciDump(await readConfig(rc, nvme.fn, 4096), { address: '00:03.0' }) + renderLspciDump(await readConfig(rc, virtio.fn, 4096), { address: '00:04.0' }));
  const r = spawnSync('lspci', ['-vv', '-n', '-F', file], { encoding: 'utf8' });
  t.equal(r.status, 0, `lspci exit status (stderr: ${r.stderr.trim()})`);
  const [nvmeOut = '', virtioOut = ''] = r.stdout.split(/\n(?=00:04\.0 )/);

  t.match(nvmeOut, /^00:03\.0 0108: [0-9a-f]{4}:[0-9a-f]{4} \(prog-if 02 \[NVM Express\]\)/, 'NVMe class 01/08/02');
  t.match(nvmeOut, /Control: I\/O- Mem\+ BusMaster\+/);
  t.match(nvmeOut, /Region 0: Memory at fe000000 \(64-bit, non-prefetchable\)/);
  t.match(nvmeOut, /Capabilities: \[[0-9a-f]+\] Express \(v2\) Endpoint/);
  t.match(nvmeOut, /Capabilities: \[[0-9a-f]+\] MSI-X: Enable\+ Count=\d+ Masked-\n\s+Vector table: BAR=0 offset=[0-9a-f]{8}\n\s+PBA: BAR=0 offset=[0-9a-f]{8}/);

  t.match(virtioOut, /^00:04\.0 0200: 1af4:1041 \(rev 01\)/, 'modern virtio-net: 1af4:1041, Ethernet class, revision 1');
  t.match(virtioOut, /Subsystem: 1af4:0040/);
  t.match(virtioOut, /Region 1: Memory at fd000000 \(32-bit, non-prefetchable\)/, 'the MSI-X BAR');
  t.match(virtioOut, /Region 4: Memory at fd100000 \(64-bit, prefetchable\)/, 'the virtio structures BAR');
  t.match(virtioOut, /MSI-X: Enable\+ Count=3 Masked-\n\s+Vector table: BAR=1 offset=00000000\n\s+PBA: BAR=1 offset=00001000/);
  t.match(virtioOut, /Vendor Specific Information: VirtIO: CommonCfg\n\s+BAR=4 offset=00000000 size=0000003c/);
  t.match(virtioOut, /Vendor Specific Information: VirtIO: Notify\n\s+BAR=4 offset=00003000 size=00000008 multiplier=00000004/);
  t.match(virtioOut, /Vendor Specific Information: VirtIO: ISR\n\s+BAR=4 offset=00001000 size=00000001/);
  t.match(virtioOut, /Vendor Specific Information: VirtIO: DeviceCfg\n\s+BAR=4 offset=00002000 size=00000018/);
  // pciutils 3.9 has no name for cfg_type 5 (the PCI_CFG access window) and prints <unknown>; newer ones may name it.
  t.match(virtioOut, /Vendor Specific Information: VirtIO: \S+\n\s+BAR=0 offset=00000000 size=00000000/, 'the PCI_CFG window cap');
  t.notMatch(r.stdout, /<unreadable>|Capabilities: <broken/, 'no broken capability chain');
  await session.terminate({ url: card.mgmtUrl, token: card.token });
});

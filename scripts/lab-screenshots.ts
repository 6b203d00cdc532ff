// The panel screenshots in docs/labs/img/: the real `nitrolab up` in offload mode and then in legacy mode, one
// instance reading 4 KiB blocks at queue depth 1, the panel in headless Chromium (the Debian package at
// /usr/bin/chromium through playwright-core, as test/panel/helpers/chromium.ts does). It also prints the newest
// sampled transaction of each mode, the excerpts the labs quote.
//   npx tsx scripts/lab-screenshots.ts            (about a minute; needs /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, startNitrolab, until } from '../test/helpers/nitrolab-up.ts';
import { CHROMIUM } from '../test/panel/helpers/chromium.ts';

const IMG = fileURLToPath(new URL('../docs/labs/img/', import.meta.url));
const FIO = 'fio --name=lab --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=1 --size=16m --runtime=90s --time_based';

interface Transaction { mode: string; steps: { tNs: number; kind: string; detail: string }[] }

async function shoot(mode: 'offload' | 'legacy'): Promise<void> {
  const nl = await startNitrolab(['--mode', mode]);
  const profile = mkdtempSync(join(tmpdir(), 'nl-lab-shot-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const r = await api<{ instances: { instanceId: string }[] }>(nl.url, 'POST', '/v1/instances', {
      instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: FIO,
    });
    if (r.status !== 201) throw new Error(`launch: ${r.status} ${JSON.stringify(r.body)}`);
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${nl.url}/?apiKey=${nl.apiKey}`);
    await page.locator(`#timeline .tl[data-mode="${mode}"] g.step[data-kind="msix"]`).waitFor({ timeout: 90_000 });
    // Let the charts gather half a minute of I/O before the picture.
    await page.waitForTimeout(30_000);
    if (mode === 'offload') await page.locator('#timeline-card').screenshot({ path: IMG + 'follow-one-io-timeline.png' });
    else await page.screenshot({ path: IMG + 'what-offload-buys-legacy-panel.png', fullPage: true });
    const tr = await until('a trace', async () => {
      const t = await api<{ transactions: Transaction[] }>(nl.url, 'GET', '/v1/hosts/host-0/traces');
      return t.body.transactions?.[0];
    });
    const t0 = tr.steps[0]?.tNs ?? 0;
    process.stdout.write(`${mode}:\n${tr.steps.map((s) => `  +${Math.round((s.tNs - t0) / 1000)} µs  ${s.kind}  ${s.detail}`).join('\n')}\n`);
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    await nl.stop();
  }
}

mkdirSync(IMG, { recursive: true });
await shoot('offload');
await shoot('legacy');
